package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/proxy/rollout"
)

const approveRoutes = `
    - name: approve
      match: {path_prefix: /approve}
      new: %[1]s
      rollout: {steps: [10, 50, 100], approve_at: [50], interval: 2s, min_requests: 10, max_p99_ratio: 1000}
`

// An approval step waits until `ficus routes approve`, across a crash of
// the lease holder: two sidecars with traffic; the route reaches 10 %, holds
// its gates and waits for approval of 50 % (the weight unchanged, the wait
// and its start in GET /api/rollout and `ficus routes list`); the holder is
// killed (SIGKILL), the other takes the lease over and still waits, since
// the same moment; `ficus routes approve` then lets the step be set, and
// the rollout completes by itself (100 is not in approve_at).
func TestRolloutApprovalStep(t *testing.T) {
	t.Parallel()
	n := testenv.MustStartNATS(t)
	svc := newServices()
	defer svc.close()
	ev := subscribeEvents(t, n.Connect(t))
	f := startFleet(t, 2, n.URL, svc.legacy.URL, fmt.Sprintf(approveRoutes, svc.new.URL))
	l := startLoad(f, []string{"approve"})
	defer l.close()

	await, _ := ev.wait(t, "approve", 0, 30*time.Second, action(rollout.ActAwait))
	if await.From != 10 || await.To != 10 || !strings.Contains(await.Reason, "weight 50") {
		t.Fatalf("await event %+v: want weight 10 kept, waiting for 50", await)
	}
	time.Sleep(2 * time.Second) // ticks pass: nothing is set without the approval
	f.expectWeights(t, map[string]float64{"approve": 10}, time.Second)
	waiting := f.approvalState(t, 0)
	if !waiting.Waiting() || waiting.AwaitingApproval != 50 || waiting.AwaitingSince.IsZero() || waiting.Weight != 10 {
		t.Fatalf("GET /api/rollout while waiting: %+v", waiting)
	}
	if out, err := f.routesCmd(1, "list"); err != nil || !strings.Contains(out, "awaiting approval of 50 since "+
		waiting.AwaitingSince.Format(time.RFC3339)) {
		t.Fatalf("ficus routes list while waiting:\n%s (%v)", out, err)
	}

	// The lease holder crashes; the other process takes the route over.
	holder := waiting.Lease
	victim := -1
	for i := range f.members {
		if strings.Contains(holder, "-"+strconv.Itoa(f.pid(i))+"-") {
			victim = i
		}
	}
	if victim < 0 {
		t.Fatalf("lease holder %q is none of the fleet's processes", holder)
	}
	survivor := 1 - victim
	l.dead.Store(victim, true)
	f.stop(victim, syscall.SIGKILL)
	deadline := time.Now().Add(20 * time.Second)
	var after rollout.StateView
	for after = f.approvalState(t, survivor); after.Lease == holder || after.Lease == ""; after = f.approvalState(t, survivor) {
		if time.Now().After(deadline) {
			t.Fatalf("no other lease holder 20 s after killing %s: %+v", holder, after)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // the new holder judges the step for a few ticks
	after = f.approvalState(t, survivor)
	if !after.Waiting() || after.Weight != 10 || !after.AwaitingSince.Equal(waiting.AwaitingSince) {
		t.Fatalf("after the hand-over to %s: %+v, want still waiting for 50 at 10 since %v", after.Lease, after, waiting.AwaitingSince)
	}
	if w, err := f.weight(survivor, "approve"); err != nil || w != 10 {
		t.Fatalf("survivor applies weight %v (%v), want 10", w, err)
	}
	evs := ev.of("approve")
	awaits := 0
	for _, e := range evs {
		if e.Action == rollout.ActAwait {
			awaits++
		}
		if e.Action == rollout.ActPromote || e.Action == rollout.ActComplete || awaits > 1 {
			t.Fatalf("decision without approval, or the wait announced twice:%s", describeEvents(evs))
		}
	}

	// The survivor's dashboard shows the wait and offers its Approve button.
	ctx := browser(t, findChromium(t))
	const approveButton = `tr[data-route="approve"] button[data-action="approve"]`
	if err := chromedp.Do(ctx,
		chromedp.Navigate("http://"+f.members[survivor].admin+"/#token="+fleetToken),
		chromedp.WaitVisible(chromedp.CSS(approveButton)),
	); err != nil {
		t.Fatalf("dashboard: no Approve button while the route waits: %v", err)
	}
	if s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`tr[data-route="approve"] td[data-field="rollout"]`))); err != nil ||
		!strings.Contains(s, "awaiting approval of 50 % since") {
		t.Fatalf("dashboard rollout cell %q (%v), want the wait", s, err)
	}

	out, err := f.routesCmd(survivor, "approve", "approve")
	if err != nil || !strings.Contains(out, "approve: rolling 1/3, 50 approved by ") {
		t.Fatalf("ficus routes approve: %q (%v)", out, err)
	}
	approved := time.Now()
	prom, _ := ev.wait(t, "approve", 0, 15*time.Second, toWeight(rollout.ActPromote, 50))
	if prom.By != after.Lease || !strings.Contains(prom.Reason, "approved by ") {
		t.Fatalf("promotion %+v: want it by the new holder %s, the reason naming the approval", prom, after.Lease)
	}
	t.Logf("step set %v after the approval: %s", prom.At.Sub(approved).Round(time.Millisecond), prom.Reason)
	f.expectWeights(t, map[string]float64{"approve": 50}, 2*time.Second)
	if err := chromedp.Do(ctx, void(chromedp.Poll[bool](fmt.Sprintf(`document.querySelector('%s') === null`, approveButton),
		chromedp.WithPollingTimeout(5*time.Second)))); err != nil {
		t.Fatalf("dashboard: the Approve button stays after the step was set: %v", err)
	}
	ev.wait(t, "approve", 0, 30*time.Second, action(rollout.ActComplete))
	f.expectWeights(t, map[string]float64{"approve": 100}, 2*time.Second)

	// Nothing waits now: approving is refused, with the reason.
	if out, err := f.routesCmd(survivor, "approve", "approve"); err == nil || !strings.Contains(out, "409") ||
		!strings.Contains(out, "not waiting for approval") {
		t.Fatalf("approve with nothing waiting: %q (%v), want a 409 with the reason", out, err)
	}
}

// approvalState is the approve route in member i's GET /api/rollout.
func (f *fleet) approvalState(t *testing.T, i int) rollout.StateView {
	t.Helper()
	for _, s := range f.rolloutRetry(t, i) {
		if s.Name == "approve" {
			return s
		}
	}
	t.Fatalf("route approve not in ficus %d's GET /api/rollout", i)
	return rollout.StateView{}
}
