package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/shadow/traffic/mirror"
)

const shadowConfig = `
nats: {embedded: {listen: %q, store_dir: %q}}
admin: {listen: %q}
proxy:
  listen: %q
  legacy: %q
  routes:
    - name: catalogue
      match: {path_prefix: /api}
      new: %q
      shadow: {enabled: true, timeout: 1s}
      compare: {ignore: ["$.request_id"]}
shadow: {workers: 2, queue: 100, redact_headers: [X-Api-Key]}
`

// The shadow feature as users run it: the real binary mirrors to the new
// side, serves the figures on GET /api/shadow/{route}, records mismatches
// on FICUS_SHADOW, and `ficus report` groups them.
func TestShadowEndToEnd(t *testing.T) {
	t.Parallel()
	side := func(price int) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			p := price
			if r.URL.Path == "/api/same" {
				p = 1
			}
			fmt.Fprintf(w, `{"request_id":"%d","price":%d}`, time.Now().UnixNano(), p)
		}))
	}
	legacy, newSvc := side(10), side(12)
	defer legacy.Close()
	defer newSvc.Close()
	natsAddr, adminAddr, proxyAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	cfg := writeConfig(t, fmt.Sprintf(shadowConfig, natsAddr, t.TempDir(), adminAddr, proxyAddr, legacy.URL, newSvc.URL))
	logs := &testenv.LogBuffer{}
	proc := startFicus(t, buildFicus(t), logs, "run", "-c", cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ficus logs:\n%s", tail(logs.String(), 8000))
		}
	})
	waitAdminReady(t, adminAddr, "", proc.exited)

	api := adminAPI(adminAddr, "")
	var st mirror.Stats
	// One request at a time, each compared before the next: the records' order and
	// their running counts (which the report's shares come from) are then fixed.
	for i, p := range []string{"/api/a?api_key=s3cret-q", "/api/b", "/api/same"} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+proxyAddr+p, nil)
		req.Header.Set("X-Api-Key", "s3cret-key")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Ficus-Served-By"); got != "legacy" {
			t.Fatalf("GET %s served by %q, want legacy", p, got)
		}
		for deadline := time.Now().Add(10 * time.Second); st.Compared < uint64(i+1) && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
			var err error
			if st, err = api.Shadow(t.Context(), "catalogue"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if st.Compared != 3 || st.Mismatched != 2 || st.Matched != 1 {
		t.Fatalf("admin figures %+v, want 3 compared, 2 mismatched, 1 matched", st)
	}

	// The records are published asynchronously: poll the report.
	var out bytes.Buffer
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		out.Reset()
		if code := runFicus(context.Background(), t, &out, &out, "report", "-c", cfg, "--format", "text"); code != 0 {
			t.Fatalf("report: exit %d: %s", code, out.String())
		}
		if strings.Contains(out.String(), "2 mismatched") {
			break
		}
	}
	for _, want := range []string{"route catalogue: 2 mismatched of 2 compared", "$.price", "GET /api/a?api_key=REDACTED"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := runFicus(context.Background(), t, &out, &out, "report", "--nats", natsURLOf(t, cfg), "--route", "catalogue", "--format", "json"); code != 0 {
		t.Fatalf("report json: exit %d: %s", code, out.String())
	}
	if strings.Contains(out.String(), "s3cret") || !strings.Contains(out.String(), `"REDACTED:hmac-sha256:`) {
		t.Errorf("json report: secret present or header not redacted:\n%s", out.String())
	}
	if strings.Contains(logs.String(), "s3cret") {
		t.Error("a secret appears in the logs")
	}
}
