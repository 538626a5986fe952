package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ficus-migrate/ficus/proxy/rollout"
)

// retryable is a failure worth trying again: the receiver could not be
// reached, timed out, was overloaded (429) or failed (5xx).
type retryable struct {
	err   error
	after time.Duration // the receiver's Retry-After, 0 without
}

func (r *retryable) Error() string { return r.err.Error() }
func (r *retryable) Unwrap() error { return r.err }

// post sends one decision once: nil when the receiver answered 2xx.
func (n *Notifier) post(ctx context.Context, q *queue, it item) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, q.target.URL, bytes.NewReader(it.body))
	if err != nil {
		return errors.New("bad webhook URL") // without the URL: it is a secret
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ficus-rollout-notify")
	resp, err := n.cfg.Client.Do(req)
	if err != nil {
		// *url.Error quotes the full URL: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return &retryable{err: err}
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("answered %s: %q", resp.Status, strings.TrimSpace(string(snippet)))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout,
		resp.StatusCode >= 500:
		return &retryable{err: err, after: retryAfter(resp.Header.Get("Retry-After"))}
	}
	return err
}

// retryAfter reads a Retry-After in seconds (the form Slack sends).
func retryAfter(v string) time.Duration {
	s, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || s <= 0 {
		return 0
	}
	return time.Duration(s) * time.Second
}

// slackBody is a Slack incoming-webhook message: one line naming the
// route, the action, the weights, the step and the reason.
func slackBody(ev rollout.Event) []byte {
	step := ""
	if ev.Step >= 0 {
		step = fmt.Sprintf(" (step %d)", ev.Step+1)
	}
	by := ""
	if ev.Manual {
		by = " [operator]"
	}
	text := fmt.Sprintf("ficus rollout %s: %s%s, weight %s%% → %s%%%s: %s",
		slackEscape(ev.Route), ev.Action, by, weight(ev.From), weight(ev.To), step, slackEscape(ev.Reason))
	b, _ := json.Marshal(struct {
		Text string `json:"text"`
	}{text}) // a struct of one string always marshals
	return b
}

func weight(w float64) string { return strconv.FormatFloat(w, 'f', -1, 64) }

// slackEscape escapes the three characters Slack's mrkdwn reserves, so a
// reason such as "0.037 > 0.005" shows as written.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
