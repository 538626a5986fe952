package gates

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/proxy/rollout"
)

// The receiver is told the route, step, weight and figures; 2xx passes,
// anything else fails with its body, and so does silence past the timeout.
func TestWebhookGate(t *testing.T) {
	var status atomic.Int32
	status.Store(200)
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(string(b))
		switch s := int(status.Load()); s {
		case 0:
			time.Sleep(2 * time.Second)
		default:
			w.WriteHeader(s)
			_, _ = io.WriteString(w, "checkout suite: 3 of 40 failed\n")
		}
	}))
	defer srv.Close()
	g := NewWebhook(WebhookConfig{Name: "qa-suite", URL: srv.URL + "/check?token=s3cret", Timeout: 300 * time.Millisecond})
	in := rollout.GateInput{Route: "orders", Step: 1, Weight: 5, Figures: rollout.Figures{NewRequests: 42}}

	r := g.Check(t.Context(), in)
	if r.Verdict != rollout.GatePass || r.Value != 200 || r.Kind != "webhook" || r.Name != "qa-suite" {
		t.Fatalf("200: %+v", r)
	}
	var body rollout.GateInput
	if err := json.Unmarshal([]byte(got.Load().(string)), &body); err != nil || body.Route != "orders" || body.Weight != 5 ||
		body.Step != 1 || body.Figures.NewRequests != 42 {
		t.Fatalf("the receiver got %s (%v)", got.Load(), err)
	}

	status.Store(500)
	r = g.Check(t.Context(), in)
	if r.Verdict != rollout.GateFail || r.Value != 500 || r.Reason != "answered 500: checkout suite: 3 of 40 failed" {
		t.Fatalf("500: %+v", r)
	}

	status.Store(0)
	start := time.Now()
	r = g.Check(t.Context(), in)
	if r.Verdict != rollout.GateFail || !strings.Contains(r.Reason, "no answer within 300ms") || time.Since(start) > 5*time.Second {
		t.Fatalf("timeout: %+v after %s", r, time.Since(start))
	}

	srv.Close()
	r = g.Check(context.Background(), in)
	if r.Verdict != rollout.GateFail || strings.Contains(r.Reason, "s3cret") || strings.Contains(r.String(), "s3cret") {
		t.Fatalf("receiver gone: %+v", r)
	}
}
