package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/ficus-migrate/ficus/internal/backoff"
	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/proxy/rollout"
)

// receiver is a real webhook on 127.0.0.1 that records every body; status,
// when set, answers instead of 200 (attempt counts from 1).
type receiver struct {
	mu     sync.Mutex
	bodies []string
	tries  int
	status func(attempt int) int
	srv    *httptest.Server
}

func newReceiver(t *testing.T, status func(int) int) *receiver {
	r := &receiver{status: status}
	r.srv = httptest.NewServer(r)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.tries++
	code := http.StatusOK
	if r.status != nil {
		code = r.status(r.tries)
	}
	if code == http.StatusOK {
		r.bodies = append(r.bodies, string(b))
	}
	r.mu.Unlock()
	w.WriteHeader(code)
}

func (r *receiver) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bodies...)
}

// waitFor waits until r holds n bodies.
func (r *receiver) waitFor(t *testing.T, n int, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := r.got()
		if len(got) >= n || time.Now().After(deadline) {
			if len(got) != n {
				t.Fatalf("receiver holds %d bodies, want %d: %q", len(got), n, got)
			}
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var fast = backoff.Policy{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond}

// start runs a notifier until the test ends.
func start(t *testing.T, cfg Config) (*Notifier, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	if cfg.Backoff == (backoff.Policy{}) {
		cfg.Backoff = fast
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = n.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return n, reg
}

func event(route string, i int) (rollout.Event, []byte) {
	ev := rollout.Event{Route: route, Action: rollout.ActPromote, From: float64(i), To: float64(i + 1), Step: i,
		Reason: fmt.Sprintf("decision %d", i), By: "test", At: time.Unix(int64(i), 0).UTC()}
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err)
	}
	return ev, b
}

func count(t *testing.T, reg *prometheus.Registry, route, result string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, mf := range mfs {
		if mf.GetName() != "ficus_rollout_notifications_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			lbl := map[string]string{}
			for _, l := range m.GetLabel() {
				lbl[l.GetName()] = l.GetValue()
			}
			if lbl["route"] == route && lbl["result"] == result {
				total += int(m.GetCounter().GetValue())
			}
		}
	}
	return total
}

// Every decision reaches a json target once, in order, as the event JSON;
// a target of another route gets none of them.
func TestJSONInOrder(t *testing.T) {
	a, other := newReceiver(t, nil), newReceiver(t, nil)
	n, reg := start(t, Config{Targets: []Target{{Route: "orders", URL: a.srv.URL + "/hooks", Format: JSON},
		{Route: "carts", URL: other.srv.URL, Format: JSON}}})
	var want []string
	for i := range 50 {
		ev, b := event("orders", i)
		n.Notify(ev, b)
		want = append(want, string(b))
	}
	got := a.waitFor(t, 50, 5*time.Second)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("body %d = %s, want %s", i, got[i], want[i])
		}
	}
	if len(other.got()) != 0 {
		t.Errorf("the other route's target got %q", other.got())
	}
	if s := count(t, reg, "orders", "sent"); s != 50 {
		t.Errorf("sent = %d, want 50", s)
	}
	text, err := testutil.CollectAndFormat(reg, expfmt.TypeTextPlain, "ficus_rollout_notifications_total")
	if err != nil {
		t.Fatal(err)
	}
	if line := fmt.Sprintf(`ficus_rollout_notifications_total{result="sent",route="orders",target="%s/REDACTED"} 50`, a.srv.URL); !strings.Contains(string(text), line) {
		t.Errorf("metrics lack %s:\n%s", line, text)
	}
}

// A slack target receives {"text": one line} naming the route, action,
// weights, step and reason, with Slack's reserved characters escaped.
func TestSlackBody(t *testing.T) {
	r := newReceiver(t, nil)
	n, _ := start(t, Config{Targets: []Target{{Route: "orders", URL: r.srv.URL, Format: Slack}}})
	n.Notify(rollout.Event{Route: "orders", Action: rollout.ActRollback, From: 50, To: 0, Step: -1,
		Reason: "gate breached: 5xx rate new 0.0370 - legacy 0.0000 = 0.0370 > max_error_rate_delta 0.005"}, []byte(`{}`))
	n.Notify(rollout.Event{Route: "orders", Action: rollout.ActPromote, From: 5, To: 25, Step: 2, Manual: true,
		Reason: "promoted to step 3 (weight 25) by an operator"}, []byte(`{}`))
	got := r.waitFor(t, 2, 5*time.Second)
	want := []string{
		"ficus rollout orders: rollback, weight 50% → 0%: gate breached: 5xx rate new 0.0370 - legacy 0.0000 = 0.0370 &gt; max_error_rate_delta 0.005",
		"ficus rollout orders: promote [operator], weight 5% → 25% (step 3): promoted to step 3 (weight 25) by an operator",
	}
	for i, body := range got {
		var msg map[string]any
		if err := json.Unmarshal([]byte(body), &msg); err != nil {
			t.Fatalf("body %q: %v", body, err)
		}
		if len(msg) != 1 || msg["text"] != want[i] {
			t.Errorf("body %d = %s, want only text %q", i, body, want[i])
		}
	}
}

// 5xx and 429 are retried, in place: what follows waits, and nothing is
// delivered twice.
func TestRetryAfter5xx(t *testing.T) {
	r := newReceiver(t, func(attempt int) int {
		switch attempt {
		case 1:
			return http.StatusServiceUnavailable
		case 2:
			return http.StatusTooManyRequests
		case 3:
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	n, reg := start(t, Config{Targets: []Target{{Route: "orders", URL: r.srv.URL, Format: JSON}}})
	var want []string
	for i := range 3 {
		ev, b := event("orders", i)
		n.Notify(ev, b)
		want = append(want, string(b))
	}
	got := r.waitFor(t, 3, 5*time.Second)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got %q, want %q", got, want)
	}
	if c := count(t, reg, "orders", "retried"); c != 3 {
		t.Errorf("retried = %d, want 3", c)
	}
	if c := count(t, reg, "orders", "sent"); c != 3 {
		t.Errorf("sent = %d, want 3", c)
	}
}

// A 4xx other than 408/429 is the receiver refusing the body: counted as
// failed at once, and the next decision goes on.
func TestRefusalIsNotRetried(t *testing.T) {
	r := newReceiver(t, func(attempt int) int {
		if attempt == 1 {
			return http.StatusNotFound
		}
		return http.StatusOK
	})
	n, reg := start(t, Config{Targets: []Target{{Route: "orders", URL: r.srv.URL, Format: JSON}}})
	for i := range 2 {
		n.Notify(event("orders", i))
	}
	got := r.waitFor(t, 1, 5*time.Second)
	if _, b := event("orders", 1); got[0] != string(b) {
		t.Errorf("got %s, want the second decision", got[0])
	}
	if f, rt := count(t, reg, "orders", "failed"), count(t, reg, "orders", "retried"); f != 1 || rt != 0 {
		t.Errorf("failed = %d, retried = %d, want 1 and 0", f, rt)
	}
}

// A receiver that refuses connections for a while loses nothing once it
// is back within GiveUpAfter; the log shows its host, never its path.
func TestReceiverDownForAWhile(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // connection refused until the server below starts
	logs := &testenv.LogBuffer{}
	n, reg := start(t, Config{
		Targets: []Target{{Route: "orders", URL: "http://" + addr + "/services/s3cret-path", Format: JSON}},
		Logger:  slog.New(slog.NewTextHandler(logs, nil)), GiveUpAfter: 10 * time.Second,
	})
	var want []string
	for i := range 20 {
		ev, b := event("orders", i)
		n.Notify(ev, b)
		want = append(want, string(b))
	}
	for deadline := time.Now().Add(5 * time.Second); count(t, reg, "orders", "retried") < 3; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("retried = %d while the receiver was down, want several", count(t, reg, "orders", "retried"))
		}
	}
	r := &receiver{}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	r.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: r}}
	r.srv.Start()
	t.Cleanup(r.srv.Close)
	got := r.waitFor(t, 20, 5*time.Second)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got %q, want %q", got, want)
	}
	if f := count(t, reg, "orders", "failed"); f != 0 {
		t.Errorf("failed = %d, want 0", f)
	}
	if strings.Contains(logs.String(), "s3cret") || !strings.Contains(logs.String(), "http://"+addr+"/REDACTED") {
		t.Errorf("the log must name the target by host only:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "reachable again") {
		t.Errorf("no recovery in the log:\n%s", logs.String())
	}
}

// A decision still refused after GiveUpAfter is counted failed; the queue
// moves on.
func TestGiveUp(t *testing.T) {
	var mu sync.Mutex
	down := true
	r := newReceiver(t, func(int) int {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	n, reg := start(t, Config{Targets: []Target{{Route: "orders", URL: r.srv.URL, Format: JSON}}, GiveUpAfter: 300 * time.Millisecond})
	n.Notify(event("orders", 0))
	deadline := time.Now().Add(5 * time.Second)
	for count(t, reg, "orders", "failed") != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the decision was never given up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	ev, b := event("orders", 1)
	n.Notify(ev, b)
	if got := r.waitFor(t, 1, 5*time.Second); got[0] != string(b) {
		t.Errorf("got %s, want the second decision", got[0])
	}
}

// With the target stuck, the queue fills to its bounds; more decisions are
// dropped and counted, and Notify returns at once every time.
func TestFullQueueDropsWithoutBlocking(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	_, body := event("orders", 0)
	n, reg := start(t, Config{Targets: []Target{
		{Route: "orders", URL: srv.URL + "/a", Format: JSON},
		{Route: "orders", URL: srv.URL + "/b", Format: JSON}, // same host: its own queue and series
	}, QueueItems: 3, QueueBytes: int64(4 * len(body))})
	n.Notify(event("orders", 0))
	for range 2 {
		select {
		case <-arrived: // both senders now hold their first decision
		case <-time.After(5 * time.Second):
			t.Fatal("the first decision never arrived")
		}
	}
	// The receivers stay stuck until the test ends: a Notify that waited
	// for delivery would never return.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= 100; i++ {
			n.Notify(event("orders", i))
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Notify blocked on full queues")
	}
	if d := count(t, reg, "orders", "dropped"); d != 2*(100-3) {
		t.Errorf("dropped = %d, want %d (3 queued per target)", d, 2*(100-3))
	}
	// The byte bound holds too: one large decision does not fit.
	big := rollout.Event{Route: "orders", Reason: strings.Repeat("x", 10*len(body))}
	n2, reg2 := start(t, Config{Targets: []Target{{Route: "orders", URL: srv.URL, Format: JSON}}, QueueBytes: int64(len(body))})
	n2.Notify(big, []byte(`{"reason":"`+big.Reason+`"}`))
	if d := count(t, reg2, "orders", "dropped"); d != 1 {
		t.Errorf("a decision over queue_bytes: dropped = %d, want 1", d)
	}
}

func TestBadFormat(t *testing.T) {
	if _, err := New(Config{Targets: []Target{{Route: "orders", URL: "http://127.0.0.1:1", Format: "teams"}}}); err == nil {
		t.Error("format teams accepted")
	}
}
