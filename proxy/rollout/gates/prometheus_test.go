package gates

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/internal/backoff"
	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/proxy/rollout"
)

// A real Prometheus server scrapes a test exporter whose value the test
// sets: under the threshold passes, over it fails, a query with no sample
// holds, a more-than-one-sample query fails, and once the server is killed
// the gate holds or fails per on_error, after a bounded number of tries.
func TestPrometheusGate(t *testing.T) {
	var value atomic.Value
	value.Store("0.2")
	exporter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		v := value.Load().(string)
		fmt.Fprintf(w, "checkout_failed_rate %s\nqueue_depth{queue=\"a\"} 1\nqueue_depth{queue=\"b\"} 2\n", v)
	}))
	defer exporter.Close()
	prom := testenv.MustStartPrometheus(t, strings.TrimPrefix(exporter.URL, "http://"))

	max := 0.5
	gate := func(query string, onErr OnError) *Prometheus {
		return NewPrometheus(PrometheusConfig{Name: "checkout-errors", URL: prom.URL, Query: query, Max: &max,
			OnError: onErr, Timeout: time.Second, Tries: 2, Retry: backoff.Policy{Initial: 50 * time.Millisecond}})
	}
	g := gate("checkout_failed_rate", OnErrorHold)
	eventually(t, g, func(r rollout.GateResult) bool {
		return r.Verdict == rollout.GatePass && r.Value == 0.2 && r.Threshold == "max 0.5"
	})
	value.Store("0.7")
	r := eventually(t, g, func(r rollout.GateResult) bool { return r.Verdict == rollout.GateFail })
	if r.Value != 0.7 || r.Reason != "0.7 > max 0.5" {
		t.Errorf("over the threshold: %+v", r)
	}
	if r := gate("no_such_metric", OnErrorHold).Check(t.Context(), rollout.GateInput{}); r.Verdict != rollout.GateHold ||
		r.Reason != "the query returned no sample" {
		t.Errorf("no sample: %+v", r)
	}
	if r := gate("queue_depth", OnErrorHold).Check(t.Context(), rollout.GateInput{}); r.Verdict != rollout.GateFail ||
		!strings.Contains(r.Reason, "returned 2 samples") {
		t.Errorf("two samples: %+v", r)
	}
	if r := gate("scalar(checkout_failed_rate)", OnErrorHold).Check(t.Context(), rollout.GateInput{}); r.Value != 0.7 {
		t.Errorf("scalar: %+v", r)
	}
	if r := gate("sum(rate(", OnErrorHold).Check(t.Context(), rollout.GateInput{}); r.Verdict != rollout.GateHold ||
		!strings.Contains(r.Reason, "bad_data") {
		t.Errorf("bad query: %+v", r)
	}

	prom.Kill()
	for _, onErr := range []OnError{OnErrorHold, OnErrorFail} {
		start := time.Now()
		r := gate("checkout_failed_rate", onErr).Check(t.Context(), rollout.GateInput{})
		if string(r.Verdict) != string(onErr) || !strings.Contains(r.Reason, "(2 tries)") || time.Since(start) > 10*time.Second {
			t.Errorf("on_error %s, server killed: %+v after %s", onErr, r, time.Since(start))
		}
	}
}

func eventually(t *testing.T, g *Prometheus, ok func(rollout.GateResult) bool) rollout.GateResult {
	t.Helper()
	var r rollout.GateResult
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if r = g.Check(t.Context(), rollout.GateInput{}); ok(r) {
			return r
		}
	}
	t.Fatalf("gate never got there; last: %+v", r)
	return r
}
