package rollout_test

import (
	"context"
	"encoding/json"
	"log/slog"
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

// complete_when: the last step is set (phase rolling), then the rollout
// completes only once the reconcile check is clean. A run that finds a
// difference keeps the route at the last step with the keys in a "gate"
// event; the next run starts an interval after it ended, not at once; the
// check runs only at the last step.
func TestControllerCompleteWhen(t *testing.T) {
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
	var runs atomic.Int32
	var runAt sync.Map // run number -> weight of the route when it ran
	var clean atomic.Bool
	check := gates.NewReconcile(gates.ReconcileConfig{Compare: "orders", MaxDifferences: 0,
		Run: func(ctx context.Context) (gates.ReconcileOutcome, error) {
			i := runs.Add(1)
			st, _, err := store.Get(ctx, "r")
			if err != nil {
				return gates.ReconcileOutcome{}, err
			}
			runAt.Store(i, st.Weight)
			if clean.Load() {
				return gates.ReconcileOutcome{LegacyRows: 10, NewRows: 10}, nil
			}
			return gates.ReconcileOutcome{Differences: 2, Keys: []string{"key 7 differs in amount→total", "key 9 missing in new"},
				LegacyRows: 10, NewRows: 9}, nil
		}})
	const interval = 400 * time.Millisecond
	plan := rollout.Plan{Steps: []float64{10, 100}, Interval: interval, MinRequests: 5,
		MaxMismatchRate: 1, MaxErrorRateDelta: 1, MaxP99Ratio: 100, OnFailure: rollout.Rollback, Complete: check}
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
	reportHealthy(t, n.Connect(t), "r")

	// The last step is set, and held there by the dirty runs.
	waitFor(t, 15*time.Second, "a hold at the last step naming the keys", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, ev := range events {
			if ev.Action == rollout.ActGate && strings.Contains(ev.Reason, "key 7 differs in amount→total; key 9 missing in new") {
				return true
			}
		}
		return false
	})
	st, _, err := store.Get(t.Context(), "r")
	if err != nil || st.Weight != 100 || st.Phase != rs.PhaseRolling {
		t.Fatalf("route at the last step with a dirty reconcile: %+v (%v), want weight 100 still rolling", st, err)
	}
	first := runs.Load()
	time.Sleep(interval / 2)
	if got := runs.Load(); got > first+1 {
		t.Errorf("%d reconcile runs within half an interval of the first hold: runs are spaced by the interval", got-first)
	}
	clean.Store(true)
	waitFor(t, 15*time.Second, "the rollout to complete", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(events) > 0 && events[len(events)-1].Action == rollout.ActComplete
	})
	if st, _, err = store.Get(t.Context(), "r"); err != nil || st.Phase != rs.PhaseComplete {
		t.Fatalf("route after the complete event: %+v (%v)", st, err)
	}
	if !strings.Contains(st.Reason, "complete_when: reconcile orders found 0 differing key(s)") {
		t.Errorf("completion reason %q does not give the clean run", st.Reason)
	}
	runAt.Range(func(k, v any) bool {
		if v.(float64) != 100 {
			t.Errorf("reconcile run %v at weight %v: it runs only at the last step", k, v)
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	var acts []string
	for _, ev := range events {
		if ev.Action != rollout.ActGate {
			acts = append(acts, ev.Action)
		}
	}
	if strings.Join(acts, ",") != "promote,complete" {
		t.Errorf("decisions %v, want the last step set by a promotion, then complete", acts)
	}
}

func waitFor(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("no %s within %s", what, within)
}
