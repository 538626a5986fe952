package rollout

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rs "github.com/ficus-migrate/ficus/proxy/routestate"
)

// scriptedCheck stands for complete_when's reconcile run: it holds until
// clean is set, and records the weight of the route at each run.
type scriptedCheck struct {
	r     *approveRig
	clean atomic.Bool
	mu    sync.Mutex
	runs  []float64
}

func (s *scriptedCheck) Name() string { return "reconcile orders" }

func (s *scriptedCheck) Check(ctx context.Context, _ GateInput) GateResult {
	st, _, err := s.r.store.Get(ctx, "r")
	s.mu.Lock()
	s.runs = append(s.runs, st.Weight)
	s.mu.Unlock()
	res := GateResult{Name: s.Name(), Kind: "reconcile", Threshold: "max_differences 0", Verdict: GateHold,
		Reason: "reconcile orders found 2 differing key(s) > max_differences 0: key 7 differs in amount→total; key 9 missing in new"}
	switch {
	case err != nil:
		res.Reason = err.Error()
	case s.clean.Load():
		res.Verdict, res.Reason = GatePass, "reconcile orders found 0 differing key(s), max_differences 0"
	}
	return res
}

func (s *scriptedCheck) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.runs)
}

// complete_when: the last step is set (phase rolling), then the rollout
// completes only once the check passes. A check that does not keeps the
// route at the last step with the keys in a "gate" event, published once
// while it says the same; the next run starts an interval after the last
// ended, not at once; the check runs only at the last step.
func TestControllerCompleteWhen(t *testing.T) {
	const interval = 400 * time.Millisecond
	plan := Plan{Steps: []float64{10, 100}, Interval: interval, MinRequests: 5,
		MaxMismatchRate: 1, MaxErrorRateDelta: 1, MaxP99Ratio: 100, OnFailure: Rollback}
	check := &scriptedCheck{}
	plan.Complete = check
	r := newApproveRig(t, map[string]Plan{"r": plan}, rs.State{Weight: 10, Step: 0, Phase: rs.PhaseRolling, StepStarted: time.Now().UTC()})
	check.r = r
	r.run("ctl")

	promoted := r.waitEvent("r", ActPromote, 1, 15*time.Second)
	if promoted.To != 100 || promoted.Phase != rs.PhaseRolling {
		t.Fatalf("promotion to the last step: %+v, want weight 100 still rolling", promoted)
	}
	hold := r.waitEvent("r", ActGate, 1, 15*time.Second)
	if !strings.Contains(hold.Reason, "the last step does not complete yet: gate reconcile orders (reconcile): hold") ||
		!strings.Contains(hold.Reason, "key 7 differs in amount→total; key 9 missing in new") || hold.To != 100 {
		t.Fatalf("the hold at the last step: %+v", hold)
	}
	if st := r.state("r"); st.Weight != 100 || st.Phase != rs.PhaseRolling {
		t.Fatalf("route at the last step with a dirty check: %+v", st)
	}
	// Runs are spaced by the interval: at most one more within half of one
	// after the first hold was published.
	first := check.count()
	time.Sleep(interval / 2)
	if got := check.count(); got > first+1 {
		t.Errorf("%d checks within half an interval: runs are spaced by the interval", got-first)
	}
	check.clean.Store(true)
	done := r.waitEvent("r", ActComplete, 1, 15*time.Second)
	if !strings.Contains(done.Reason, "complete_when: reconcile orders found 0 differing key(s)") || done.From != 100 || done.To != 100 {
		t.Errorf("completion %+v does not give the clean run", done)
	}
	if st := r.state("r"); st.Phase != rs.PhaseComplete {
		t.Errorf("route after the complete event: %+v", st)
	}
	if n := len(r.of("r", ActGate)); n != 1 {
		t.Errorf("%d gate events for the same dirty result, want 1 (a change is published, not every run)", n)
	}
	check.mu.Lock()
	defer check.mu.Unlock()
	for i, w := range check.runs {
		if w != 100 {
			t.Errorf("check %d ran at weight %v: it runs only at the last step", i, w)
		}
	}
}
