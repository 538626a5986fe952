package rollout_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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
	side := n.Connect(t)
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
			b, _ := json.Marshal(rollout.Report{Instance: "sidecar", Started: started, Route: "r",
				New: rollout.Side{Requests: reqs}, Legacy: rollout.Side{Requests: reqs}})
			_ = side.Publish(rollout.StatsPrefix+"r", b)
		}
	}()

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
	if strings.Contains(logs.String(), "s3cret") {
		t.Errorf("a gate URL's secret is in the logs:\n%s", logs.String())
	}
}
