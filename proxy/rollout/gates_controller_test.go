package rollout_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/proxy/rollout"
	"github.com/ficus-migrate/ficus/proxy/rollout/gates"
	rs "github.com/ficus-migrate/ficus/proxy/routestate"
)

// A QA webhook that answers 200 lets the step be promoted; once it answers
// 500 the route rolls back with the body in the reason. A dry_run gate that
// fails all along is published (as a "gate" event and in the figures) but
// never acts.
func TestControllerWebhookGates(t *testing.T) {
	n := testenv.MustStartNATS(t)
	conn := n.Connect(t)
	js, err := jetstream.New(conn)
	if err != nil {
		t.Fatal(err)
	}
	store, err := rs.Open(t.Context(), rs.Config{JS: js})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Seed(t.Context(), "r", rs.State{Weight: 10, Step: 0, Phase: rs.PhaseRolling, StepStarted: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	// qa passes below weight 50 and fails at it; strict fails always.
	qa := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in rollout.GateInput
		b, _ := io.ReadAll(r.Body)
		if json.Unmarshal(b, &in) != nil || in.Route != "r" || in.Figures.NewRequests == 0 {
			http.Error(w, "bad request: "+string(b), http.StatusBadRequest)
			return
		}
		if in.Weight >= 50 {
			http.Error(w, "qa suite: checkout broke at weight 50", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer qa.Close()
	strict := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "strict suite: would block", http.StatusServiceUnavailable)
	}))
	defer strict.Close()
	plan := rollout.Plan{Steps: []float64{10, 50, 100}, Interval: 300 * time.Millisecond, MinRequests: 5,
		MaxMismatchRate: 1, MaxErrorRateDelta: 1, MaxP99Ratio: 100, OnFailure: rollout.Rollback,
		Gates: []rollout.Gate{
			gates.NewWebhook(gates.WebhookConfig{Name: "qa-suite", URL: qa.URL + "/check?token=s3cret", Timeout: time.Second}),
			gates.NewWebhook(gates.WebhookConfig{Name: "strict", URL: strict.URL, Timeout: time.Second, DryRun: true}),
		}}
	logs := &testenv.LogBuffer{}
	ctl, err := rollout.NewController(rollout.ControllerConfig{Store: store, Conn: conn, Plans: map[string]rollout.Plan{"r": plan},
		Instance: "ctl", Tick: 50 * time.Millisecond, LeaseTTL: 10 * time.Second, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []rollout.Event
	if _, err := conn.Subscribe(rollout.SubjectPrefix+"r", func(m *nats.Msg) {
		var ev rollout.Event
		if json.Unmarshal(m.Data, &ev) == nil {
			mu.Lock()
			events = append(events, ev)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	go func() { _ = ctl.Run(t.Context()) }()
	// Another process's admin API shows the gates from the events.
	board := rollout.NewGateBoard()
	go func() { _ = board.Run(t.Context(), n.Connect(t)) }()
	adm := httptest.NewServer(rollout.NewAdmin(rollout.AdminConfig{Store: store, Routes: []string{"r"},
		Plans: map[string]rollout.Plan{"r": plan}, Events: conn, Instance: "other", Gates: board}).Handler())
	defer adm.Close()
	reportHealthy(t, n.Connect(t), "r")

	var st rs.State
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if st, _, err = store.Get(t.Context(), "r"); err == nil && st.Phase == rs.PhaseRolledBack {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if st.Phase != rs.PhaseRolledBack || !strings.Contains(st.Reason, "qa suite: checkout broke at weight 50") {
		t.Fatalf("route %+v: want rolled back with the webhook's body in the reason; events %+v; logs:\n%s", st, events, logs.String())
	}
	for _, ev := range events {
		if ev.Action == rollout.ActPromote && !strings.Contains(ev.Reason, "gates: qa-suite pass 200 (2xx), strict fail 503 (2xx) dry_run") {
			t.Errorf("the promotion's reason does not give each gate's value and threshold: %q", ev.Reason)
		}
	}
	var acts []string
	var sawGate bool
	for _, ev := range events {
		if ev.Action == rollout.ActGate {
			sawGate = sawGate || strings.Contains(ev.Reason, "strict suite: would block")
			continue
		}
		acts = append(acts, ev.Action)
		if ev.Figures == nil || len(ev.Figures.Gates) != 2 {
			t.Errorf("%s: figures without both gates: %+v", ev.Action, ev.Figures)
			continue
		}
		dry := ev.Figures.Gates[1]
		if dry.Name != "strict" || dry.Verdict != rollout.GateFail || !dry.DryRun || dry.Value != 503 {
			t.Errorf("%s: dry_run gate %+v", ev.Action, dry)
		}
	}
	if strings.Join(acts, ",") != "promote,rollback" {
		t.Errorf("decisions %v, want promote then rollback (the dry_run gate must not act)", acts)
	}
	if !sawGate {
		t.Errorf("the dry_run gate's failure was not published as a gate event: %+v", events)
	}
	var views []rollout.StateView
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(adm.URL + "/api/rollout")
		if err != nil {
			t.Fatal(err)
		}
		views = nil
		err = json.NewDecoder(resp.Body).Decode(&views)
		_ = resp.Body.Close()
		if err == nil && len(views) == 1 && len(views[0].Gates) == 2 && views[0].Gates[0].Verdict == rollout.GateFail {
			break
		}
	}
	if len(views) != 1 || len(views[0].Gates) != 2 || views[0].Gates[0].Reason != "answered 500: qa suite: checkout broke at weight 50" ||
		views[0].GatesAt.IsZero() {
		t.Errorf("GET /api/rollout: %+v, want the rollback's gates", views)
	}
	if strings.Contains(logs.String(), "s3cret") {
		t.Errorf("a gate URL's secret is in the logs:\n%s", logs.String())
	}
}

// With a real Prometheus scraping a test exporter: a value under max
// promotes and one over it rolls back; a query with no sample holds the
// step (published with its reason); once Prometheus is killed, a gate with
// on_error: fail rolls back and one with on_error: hold holds.
func TestControllerPrometheusGates(t *testing.T) {
	var errRate atomic.Value
	errRate.Store("0.1")
	exporter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "checkout_failed_rate %s\nsteady_rate 0.1\n", errRate.Load().(string))
	}))
	defer exporter.Close()
	prom := testenv.MustStartPrometheus(t, strings.TrimPrefix(exporter.URL, "http://"))
	n := testenv.MustStartNATS(t)
	conn := n.Connect(t)
	js, err := jetstream.New(conn)
	if err != nil {
		t.Fatal(err)
	}
	store, err := rs.Open(t.Context(), rs.Config{JS: js})
	if err != nil {
		t.Fatal(err)
	}
	maxRate := 0.5
	gate := func(query string, onErr gates.OnError) []rollout.Gate {
		return []rollout.Gate{gates.NewPrometheus(gates.PrometheusConfig{Name: "checkout-errors", URL: prom.URL, Query: query,
			Max: &maxRate, OnError: onErr, Timeout: time.Second, Tries: 2})}
	}
	plan := func(interval time.Duration, g []rollout.Gate) rollout.Plan {
		return rollout.Plan{Steps: []float64{10, 50, 100}, Interval: interval, MinRequests: 5, MaxMismatchRate: 1,
			MaxErrorRateDelta: 1, MaxP99Ratio: 100, OnFailure: rollout.Rollback, Gates: g}
	}
	// Prometheus has a sample after its first scrape.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		r := gate("steady_rate", gates.OnErrorHold)[0].Check(t.Context(), rollout.GateInput{})
		if r.Verdict == rollout.GatePass {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus has no sample of the exporter: %+v", r)
		}
	}
	// checkout waits for an approval at 100, so that its gate goes on
	// judging step 50 while the test raises the error rate.
	checkout := plan(500*time.Millisecond, gate("checkout_failed_rate", gates.OnErrorHold))
	checkout.ApproveAt = []float64{100}
	plans := map[string]rollout.Plan{
		"checkout":   checkout,
		"nosample":   plan(300*time.Millisecond, gate("no_such_metric", gates.OnErrorHold)),
		"onerr-fail": plan(time.Hour, gate("steady_rate", gates.OnErrorFail)),
		"onerr-hold": plan(time.Hour, gate("steady_rate", gates.OnErrorHold)),
	}
	for name := range plans {
		if _, err := store.Seed(t.Context(), name, rs.State{Weight: 10, Step: 0, Phase: rs.PhaseRolling, StepStarted: time.Now().UTC()}); err != nil {
			t.Fatal(err)
		}
	}
	logs := &testenv.LogBuffer{}
	ctl, err := rollout.NewController(rollout.ControllerConfig{Store: store, Conn: conn, Plans: plans,
		Instance: "ctl", Tick: 50 * time.Millisecond, LeaseTTL: 10 * time.Second, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	events := map[string][]rollout.Event{}
	if _, err := conn.Subscribe(rollout.SubjectPrefix+"*", func(m *nats.Msg) {
		var ev rollout.Event
		if json.Unmarshal(m.Data, &ev) == nil {
			mu.Lock()
			events[ev.Route] = append(events[ev.Route], ev)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	go func() { _ = ctl.Run(t.Context()) }()
	names := make([]string, 0, len(plans))
	for name := range plans {
		names = append(names, name)
	}
	reportHealthy(t, n.Connect(t), names...)
	waitFor := func(route, what string, ok func(rs.State, []rollout.Event) bool) {
		t.Helper()
		var st rs.State
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			st, _, _ = store.Get(t.Context(), route)
			mu.Lock()
			evs := append([]rollout.Event(nil), events[route]...)
			mu.Unlock()
			if ok(st, evs) {
				return
			}
		}
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("%s: never %s; state %+v; events %+v; logs:\n%s", route, what, st, events[route], logs.String())
	}
	hasGate := func(evs []rollout.Event, reason string) bool {
		for _, ev := range evs {
			if ev.Action == rollout.ActGate && strings.Contains(ev.Reason, reason) {
				return true
			}
		}
		return false
	}

	waitFor("checkout", "promoted under the threshold", func(st rs.State, _ []rollout.Event) bool { return st.Weight == 50 })
	errRate.Store("0.9")
	waitFor("checkout", "rolled back over the threshold", func(st rs.State, _ []rollout.Event) bool {
		return st.Phase == rs.PhaseRolledBack && strings.Contains(st.Reason, "0.9 > max 0.5")
	})
	waitFor("nosample", "held with a reason", func(_ rs.State, evs []rollout.Event) bool {
		return hasGate(evs, "hold checkout-errors: the query returned no sample")
	})
	if st, _, _ := store.Get(t.Context(), "nosample"); st.Weight != 10 || st.Phase != rs.PhaseRolling {
		t.Errorf("a gate without a sample let the route move: %+v", st)
	}

	prom.Kill()
	waitFor("onerr-fail", "rolled back with Prometheus gone", func(st rs.State, _ []rollout.Event) bool {
		return st.Phase == rs.PhaseRolledBack && strings.Contains(st.Reason, "prometheus: request failed")
	})
	waitFor("onerr-hold", "held with Prometheus gone", func(_ rs.State, evs []rollout.Event) bool {
		return hasGate(evs, "hold checkout-errors: prometheus: request failed")
	})
	if st, _, _ := store.Get(t.Context(), "onerr-hold"); st.Weight != 10 || st.Phase != rs.PhaseRolling {
		t.Errorf("on_error: hold moved the route: %+v", st)
	}
}

// reportHealthy publishes, every 50 ms until the test ends, the counters of
// a sidecar running for an hour whose new side serves 5 more requests a
// tick without errors, for each route.
func reportHealthy(t *testing.T, side *nats.Conn, routes ...string) {
	started := time.Now().Add(-time.Hour).UTC()
	go func() {
		var reqs uint64
		for tick := time.NewTicker(50 * time.Millisecond); ; {
			select {
			case <-t.Context().Done():
				tick.Stop()
				return
			case <-tick.C:
			}
			reqs += 5
			for _, name := range routes {
				b, _ := json.Marshal(rollout.Report{Instance: "sidecar", Started: started, Route: name,
					New: rollout.Side{Requests: reqs}, Legacy: rollout.Side{Requests: reqs}})
				_ = side.Publish(rollout.StatsPrefix+name, b)
			}
		}
	}()
}
