package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
)

// TestRolloutNotify loads rollout.notify with a Slack webhook from the
// environment: it is decoded as given, json is the default format, and no
// way of printing the config shows the webhook's secret path.
func TestRolloutNotify(t *testing.T) {
	const file = `proxy:
  legacy: http://127.0.0.1:3000
  routes:
    - name: orders
      new: http://127.0.0.1:4000
      rollout:
        steps: [1, 5, 25, 50, 100]
        notify: [{url: "${SLACK_WEBHOOK}", format: slack}, {url: "http://ops:8080/hooks?key=s3cret-q"}]
`
	hook := "https://hooks.slack.com/services/T000/B000/s3cret-slack"
	c, err := LoadBytes("t.yaml", []byte(file), lookup(map[string]string{"SLACK_WEBHOOK": hook}))
	if err != nil {
		t.Fatal(err)
	}
	got := c.Proxy.Routes[0].Rollout.Notify
	want := []RolloutNotify{{URL: SecretURL(hook), Format: NotifySlack}, {URL: "http://ops:8080/hooks?key=s3cret-q", Format: NotifyJSON}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("notify = %#v, want %#v", got, want)
	}
	if got[0].URL.Reveal() != hook {
		t.Errorf("Reveal() = %q", got[0].URL.Reveal())
	}
	js, _ := json.Marshal(got)
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "target", got[0].URL, "other", got[1].URL)
	for name, s := range map[string]string{
		"redacted": c.Redacted(), "%v": fmt.Sprintf("%v", got), "%#v": fmt.Sprintf("%#v", got),
		"json": string(js), "slog": logged.String(),
	} {
		if strings.Contains(s, "s3cret") {
			t.Errorf("%s leaks the webhook:\n%s", name, s)
		}
	}
	if !strings.Contains(c.Redacted(), "url: https://hooks.slack.com/REDACTED") {
		t.Errorf("printed config does not show the masked URL:\n%s", c.Redacted())
	}
}

func TestMaskURL(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"https://hooks.slack.com/services/T/B/s3cret", "https://hooks.slack.com/REDACTED"},
		{"http://ops:8080", "http://ops:8080"},
		{"http://ops:8080/", "http://ops:8080"},
		{"http://ops/?token=s3cret", "http://ops/REDACTED"},
		{"http://u:s3cret@ops", "http://ops/REDACTED"},
		{"http://ops#s3cret", "http://ops/REDACTED"},
		{"no url s3cret", "REDACTED"},
		{"http://[::1:s3cret/x", "REDACTED"},
	} {
		if got := MaskURL(tt.in); got != tt.want {
			t.Errorf("MaskURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
