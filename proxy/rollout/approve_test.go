package rollout

import (
	"context"
	"encoding/json"
	"net/http/httptest"
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

// approveRig is one real NATS with the bucket, a sidecar reporting healthy
// (or failing) counters per route, and the events on ficus.rollout.>.
type approveRig struct {
	t       *testing.T
	n       *testenv.NATS
	store   *rs.Store
	plans   map[string]Plan
	failing sync.Map // route -> true once new answers 5xx

	mu     sync.Mutex
	events []Event
}

func newApproveRig(t *testing.T, plans map[string]Plan, seed rs.State) *approveRig {
	r := &approveRig{t: t, n: testenv.MustStartNATS(t), plans: plans}
	js, err := jetstream.New(r.n.Connect(t))
	if err != nil {
		t.Fatal(err)
	}
	if r.store, err = rs.Open(t.Context(), rs.Config{JS: js}); err != nil {
		t.Fatal(err)
	}
	watch := r.n.Connect(t)
	if _, err := watch.Subscribe(SubjectPrefix+">", func(m *nats.Msg) {
		var ev Event
		if json.Unmarshal(m.Data, &ev) == nil {
			r.mu.Lock()
			r.events = append(r.events, ev)
			r.mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := watch.Flush(); err != nil {
		t.Fatal(err)
	}
	side := r.n.Connect(t)
	started := time.Now().Add(-time.Hour).UTC()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for name := range plans {
		if _, err := r.store.Seed(t.Context(), name, seed); err != nil {
			t.Fatal(err)
		}
		var newReq, new5xx atomic.Uint64
		wg.Go(func() {
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				newReq.Add(5)
				if _, bad := r.failing.Load(name); bad {
					new5xx.Add(5)
				}
				b, _ := json.Marshal(Report{Instance: "sidecar", Started: started, Route: name,
					New: Side{Requests: newReq.Load(), Status5xx: new5xx.Load()}, Legacy: Side{Requests: newReq.Load()}})
				_ = side.Publish(StatsPrefix+name, b)
			}
		})
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return r
}

// run starts a controller named instance; stop ends it as a clean exit does
// (its leases released).
func (r *approveRig) run(instance string) (stop func()) {
	ctl, err := NewController(ControllerConfig{Store: r.store, Conn: r.n.Connect(r.t), Plans: r.plans,
		Instance: instance, Tick: 50 * time.Millisecond, LeaseTTL: 2 * time.Second})
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = ctl.Run(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	r.t.Cleanup(stop)
	return stop
}

func (r *approveRig) of(route, action string) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, ev := range r.events {
		if ev.Route == route && (action == "" || ev.Action == action) {
			out = append(out, ev)
		}
	}
	return out
}

// waitEvent waits for the n-th event of route with action.
func (r *approveRig) waitEvent(route, action string, n int, within time.Duration) Event {
	r.t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(20 * time.Millisecond) {
		if evs := r.of(route, action); len(evs) >= n {
			return evs[n-1]
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("route %s: no %s event #%d within %v; events: %+v", route, action, n, within, r.of(route, ""))
		}
	}
}

func (r *approveRig) state(route string) rs.State {
	r.t.Helper()
	st, _, err := r.store.Get(r.t.Context(), route)
	if err != nil {
		r.t.Fatal(err)
	}
	return st
}

// A step in approve_at is not set until an operator approves it, whoever
// holds the lease meanwhile; then the controller sets it and goes on.
func TestControllerWaitsForApproval(t *testing.T) {
	plan := Plan{Steps: []float64{10, 50, 100}, Interval: 300 * time.Millisecond, MinRequests: 10,
		MaxMismatchRate: 1, MaxErrorRateDelta: 0.05, MaxP99Ratio: 100, OnFailure: Rollback, ApproveAt: []float64{50}}
	r := newApproveRig(t, map[string]Plan{"r": plan}, rs.State{Weight: 10, Step: 0, Phase: rs.PhaseRolling, StepStarted: time.Now().UTC()})
	adm := NewAdmin(AdminConfig{Store: r.store, Routes: []string{"r"}, Plans: r.plans, Events: r.n.Connect(t), Instance: "op"}).Handler()
	post := func(action string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		adm.ServeHTTP(rec, httptest.NewRequest("POST", "/api/routes/r/"+action, nil))
		return rec
	}
	if rec := post(ActApprove); rec.Code != 409 || !strings.Contains(rec.Body.String(), "not waiting for approval") {
		t.Fatalf("approve before the wait: %d %s, want 409 saying the route does not wait", rec.Code, rec.Body)
	}

	stop := r.run("ctl-1")
	await := r.waitEvent("r", ActAwait, 1, 10*time.Second)
	if await.From != 10 || await.To != 10 || await.Step != 0 || !strings.Contains(await.Reason, "waits for approval") ||
		!strings.Contains(await.Reason, "weight 50") || await.Figures == nil {
		t.Fatalf("await event %+v: want weight 10 kept, the waiting step named, figures", await)
	}
	st := r.state("r")
	since := st.AwaitingSince
	if st.Weight != 10 || st.AwaitingApproval != 50 || since.IsZero() || !st.Waiting() {
		t.Fatalf("state while waiting: %+v", st)
	}

	// A new lease holder (the first one gone) keeps waiting, and does not
	// announce the wait again.
	time.Sleep(500 * time.Millisecond)
	stop()
	r.run("ctl-2")
	time.Sleep(time.Second)
	st = r.state("r")
	if st.Weight != 10 || !st.Waiting() || !st.AwaitingSince.Equal(since) || len(r.of("r", ActPromote)) > 0 {
		t.Fatalf("after the hand-over: %+v, events %+v: want still waiting since %v at weight 10", st, r.of("r", ""), since)
	}
	if n := len(r.of("r", ActAwait)); n != 1 {
		t.Fatalf("%d await events, want 1: %+v", n, r.of("r", ""))
	}

	if rec := post(ActApprove); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"approved_by": "op"`) {
		t.Fatalf("approve: %d %s", rec.Code, rec.Body)
	}
	r.waitEvent("r", ActApprove, 1, 2*time.Second)
	prom := r.waitEvent("r", ActPromote, 1, 10*time.Second)
	if prom.To != 50 || prom.By != "ctl-2" || !strings.Contains(prom.Reason, "approved by op") {
		t.Fatalf("promotion %+v: want weight 50 by ctl-2, the reason naming the approval", prom)
	}
	// 100 is not in approve_at: the rollout completes by itself.
	r.waitEvent("r", ActComplete, 1, 10*time.Second)
	if st := r.state("r"); st.Weight != 100 || st.AwaitingApproval != 0 || !st.ApprovedAt.IsZero() {
		t.Fatalf("after the approval: %+v, want weight 100, the wait cleared", st)
	}
	if n := len(r.of("r", ActAwait)); n != 1 {
		t.Fatalf("%d await events, want 1: %+v", n, r.of("r", ""))
	}
}

// While a route waits for approval its step is still judged: a breach
// rolls it back and ends the wait; an approval then is refused.
func TestApprovalWaitRollsBackOnBreach(t *testing.T) {
	plan := Plan{Steps: []float64{10, 50, 100}, Interval: 300 * time.Millisecond, MinRequests: 10,
		MaxMismatchRate: 1, MaxErrorRateDelta: 0.05, MaxP99Ratio: 100, OnFailure: Rollback, ApproveAt: []float64{10, 50}}
	// Weight 0, not started: even the first step waits.
	r := newApproveRig(t, map[string]Plan{"r": plan}, rs.State{Weight: 0, Step: -1})
	r.run("ctl")
	first := r.waitEvent("r", ActAwait, 1, 10*time.Second)
	if first.To != 0 || r.state("r").AwaitingApproval != 10 || len(r.of("r", ActStart)) > 0 {
		t.Fatalf("start: %+v, state %+v: want the first step waiting", first, r.state("r"))
	}
	if _, err := r.store.Update(t.Context(), "r", func(st rs.State) (rs.State, error) {
		return manual(ActApprove, st, &plan, 0, time.Now().UTC(), "op")
	}); err != nil {
		t.Fatal(err)
	}
	start := r.waitEvent("r", ActStart, 1, 10*time.Second)
	if start.To != 10 || !strings.Contains(start.Reason, "approved by op") {
		t.Fatalf("start %+v: want weight 10 after the approval", start)
	}
	r.waitEvent("r", ActAwait, 2, 10*time.Second) // at 10, waiting for 50
	r.failing.Store("r", true)
	rb := r.waitEvent("r", ActRollback, 1, 10*time.Second)
	if rb.To != 0 || rb.Figures == nil || !strings.Contains(rb.Reason, "5xx") {
		t.Fatalf("rollback %+v: want weight 0 judged on the 5xx", rb)
	}
	st := r.state("r")
	if st.Phase != rs.PhaseRolledBack || st.AwaitingApproval != 0 || !st.AwaitingSince.IsZero() {
		t.Fatalf("after the breach: %+v, want rolled back with the wait cleared", st)
	}
	if len(r.of("r", ActPromote)) > 0 {
		t.Fatalf("promoted without approval: %+v", r.of("r", ""))
	}
}
