package rollout

import (
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
	rs "github.com/ficus-migrate/ficus/proxy/routestate"
)

// A release that goes bad while NATS is away must not be promoted on the
// healthy figures from before the outage: the controller holds while it
// cannot hear the sidecars, says why, and judges the step afresh on what
// they report once NATS is back.
func TestControllerHoldsThroughNATSOutage(t *testing.T) {
	n := testenv.MustStartNATS(t)
	reconnecting := []nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond)}
	ctlConn := n.Connect(t, reconnecting...)
	js, err := jetstream.New(ctlConn)
	if err != nil {
		t.Fatal(err)
	}
	store, err := rs.Open(t.Context(), rs.Config{JS: js})
	if err != nil {
		t.Fatal(err)
	}
	const interval = 2 * time.Second
	if _, err := store.Seed(t.Context(), "r", rs.State{Weight: 10, Step: 0, Phase: rs.PhaseRolling, StepStarted: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	plan := Plan{Steps: []float64{10, 50, 100}, Interval: interval, MinRequests: 20,
		MaxMismatchRate: 1, MaxErrorRateDelta: 0.05, MaxP99Ratio: 100, OnFailure: Rollback}
	logs := &testenv.LogBuffer{}
	ctl, err := NewController(ControllerConfig{Store: store, Conn: ctlConn, Plans: map[string]Plan{"r": plan},
		// The lease outlives the outage, so holding is the controller's
		// own doing, not a lease lost.
		Instance: "ctl", Tick: 50 * time.Millisecond, LeaseTTL: 30 * time.Second,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	var events []Event
	var evMu sync.Mutex
	watch := n.Connect(t, reconnecting...)
	if _, err := watch.Subscribe(SubjectPrefix+"r", func(m *nats.Msg) {
		var ev Event
		if json.Unmarshal(m.Data, &ev) == nil {
			evMu.Lock()
			events = append(events, ev)
			evMu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	ctlDone := make(chan struct{})
	go func() { defer close(ctlDone); _ = ctl.Run(t.Context()) }()

	// A sidecar that has run for an hour reports its cumulative counters
	// every 50 ms; failing flips new to answering 5xx from then on; quiet
	// is a sidecar whose connection comes back later than the controller's.
	var newReq, new5xx, legacyReq atomic.Uint64
	var failing, quiet atomic.Bool
	side := n.Connect(t, reconnecting...)
	started := time.Now().Add(-time.Hour).UTC()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for tick := time.NewTicker(50 * time.Millisecond); ; {
			select {
			case <-stop:
				tick.Stop()
				return
			case <-tick.C:
			}
			newReq.Add(2)
			legacyReq.Add(18)
			if failing.Load() {
				new5xx.Add(2)
			}
			if quiet.Load() {
				continue
			}
			b, _ := json.Marshal(Report{Instance: "sidecar", Started: started, Route: "r",
				New:    Side{Requests: newReq.Load(), Status5xx: new5xx.Load()},
				Legacy: Side{Requests: legacyReq.Load()}})
			_ = side.Publish(StatsPrefix+"r", b) // buffered or lost while NATS is away, as a sidecar's are
		}
	})
	t.Cleanup(func() { close(stop); wg.Wait() })

	// Healthy and past MinRequests, but well inside the interval.
	time.Sleep(interval / 2)
	quiet.Store(true)
	n.Stop(t)
	failing.Store(true)
	time.Sleep(interval + time.Second) // the interval passes during the outage
	if !strings.Contains(logs.String(), HoldReason) {
		t.Errorf("the controller did not say it holds during the outage; logs:\n%s", logs.String())
	}
	n.Restart(t)
	time.Sleep(time.Second)
	quiet.Store(false)

	deadline := time.Now().Add(15 * time.Second)
	var st rs.State
	for ; time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if st, _, err = store.Get(t.Context(), "r"); err == nil && (st.Step != 0 || st.Phase != rs.PhaseRolling) {
			break
		}
	}
	if st.Phase != rs.PhaseRolledBack || st.Weight != 0 {
		t.Fatalf("route after the outage: %+v, want rolled back to 0 (new answered 5xx since the outage began); logs:\n%s", st, logs.String())
	}
	evMu.Lock()
	defer evMu.Unlock()
	for _, ev := range events {
		if ev.Action == ActPromote || ev.Action == ActComplete {
			t.Errorf("promoted across the outage: %+v", ev)
		}
	}
	if len(events) == 0 || events[len(events)-1].Action != ActRollback || events[len(events)-1].Figures == nil ||
		events[len(events)-1].Figures.New5xx == 0 {
		t.Errorf("events %+v: want a rollback judged on the 5xx reported after NATS came back", events)
	}
	if !strings.Contains(logs.String(), "NATS is back: rollout resumes with a fresh window") {
		t.Errorf("no word of resuming; logs:\n%s", logs.String())
	}
}
