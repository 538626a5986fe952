package rollout

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	rs "github.com/ficus-migrate/ficus/proxy/routestate"
)

// Gate is a check beyond the built-in figures (rollout.gates: a webhook, a
// Prometheus query): the controller runs every gate of a route at each
// decision once the step has served MinRequests. Check must return within
// its own bounded time and never panic; its result says what it saw.
type Gate interface {
	Name() string
	Check(ctx context.Context, in GateInput) GateResult
}

// WindowGate is a Gate that measures over the step's window itself (the
// data gate sums counts since the step began): the controller tells it
// when a window starts, as it starts its own — at a new step, and when it
// takes the route's lease.
type WindowGate interface {
	Gate
	StartWindow(at time.Time)
}

// GateInput is what a gate is told about the step being judged.
type GateInput struct {
	Route  string  `json:"route"`
	Step   int     `json:"step"`
	Weight float64 `json:"weight"`
	// StepStarted is when the step began.
	StepStarted time.Time `json:"step_started"`
	Figures     Figures   `json:"figures"`
}

// startWindows tells the gates that measure over the window that a new one
// starts at now.
func startWindows(gates []Gate, now time.Time) {
	for _, g := range gates {
		if w, ok := g.(WindowGate); ok {
			w.StartWindow(now)
		}
	}
}

// GateVerdict is one gate's answer.
type GateVerdict string

// Gate verdicts.
const (
	GatePass GateVerdict = "pass" // the step may go on
	GateFail GateVerdict = "fail" // act per on_failure (unless dry_run)
	GateHold GateVerdict = "hold" // no data: the step waits, with the reason
)

// GateResult is one gate's evaluation, as the figures carry it.
type GateResult struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Value is what the gate measured (a query's sample, a webhook's HTTP
	// status); 0 when it measured nothing (see Reason).
	Value float64 `json:"value"`
	// Threshold says what Value is held to, such as "max 0.5" or "2xx".
	Threshold string      `json:"threshold"`
	Verdict   GateVerdict `json:"verdict"`
	// Measures are the figures behind Value when a gate measures more
	// than one thing (the data gate: rates, counts, behind), by name.
	Measures map[string]float64 `json:"measures,omitempty"`
	Reason   string             `json:"reason,omitempty"`
	// DryRun gates are evaluated, logged and published, never acted on.
	DryRun bool `json:"dry_run,omitempty"`
}

func (r GateResult) String() string {
	s := fmt.Sprintf("gate %s (%s): %s, value %g, threshold %s", r.Name, r.Kind, r.Verdict, r.Value, r.Threshold)
	if r.Reason != "" {
		s += ": " + r.Reason
	}
	if r.DryRun {
		s += " [dry_run]"
	}
	return s
}

// gateTimeout bounds one gate check whatever its own timeout says, so a
// check that hangs cannot keep a route's gates from ever being judged.
const gateTimeout = 2 * time.Minute

// gateRun evaluates a route's gates off the controller's tick: a slow
// webhook holds up neither the other routes nor the lease renewals. One
// run at a time; its results count only for the step they were run for.
type gateRun struct {
	mu      sync.Mutex
	running bool
	key     string // the step the results are for
	results []GateResult
	done    bool
	// timeout bounds a run [gateTimeout]; gap is the least time between
	// the end of a run and the start of the next for the same step (a
	// reconcile run is not repeated back to back) [none].
	timeout, gap time.Duration
	ended        time.Time
}

// poll returns the results of the last completed run for step key (ok is
// false when there are none yet) and starts the next run if none is in
// flight, so each decision is judged on a check at most one tick old.
func (g *gateRun) poll(ctx context.Context, key string, gates []Gate, in GateInput) (res []GateResult, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done && g.key == key {
		res, ok = g.results, true
	}
	if !g.running && (!ok || time.Since(g.ended) >= g.gap) {
		g.running, g.done = true, false
		go g.run(ctx, key, gates, in)
	}
	return res, ok
}

func (g *gateRun) run(ctx context.Context, key string, gates []Gate, in GateInput) {
	timeout := g.timeout
	if timeout <= 0 {
		timeout = gateTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res := make([]GateResult, len(gates))
	var wg sync.WaitGroup
	for i, gt := range gates {
		wg.Go(func() { res[i] = gt.Check(ctx, in) })
	}
	wg.Wait()
	g.mu.Lock()
	g.running, g.done, g.key, g.results, g.ended = false, true, key, res, time.Now()
	g.mu.Unlock()
}

// judgeGates folds the gates' results into the built-in verdict: a gate
// that fails acts as a breach, one that holds makes the step wait; dry-run
// gates never change the verdict.
func judgeGates(v verdict, reason string, res []GateResult) (verdict, string) {
	var fails, holds []string
	for _, r := range res {
		if r.DryRun {
			continue
		}
		switch r.Verdict {
		case GateFail:
			fails = append(fails, r.String())
		case GateHold:
			holds = append(holds, r.String())
		}
	}
	switch {
	case v == fail:
		return v, reason
	case len(fails) > 0:
		return fail, strings.Join(fails, "; ")
	case len(holds) > 0:
		return wait, strings.Join(holds, "; ")
	}
	return v, reason
}

// checkGates runs the route's gates (off the tick) and folds what the
// last completed check said into the verdict; f gets the results. A change
// in what does not act (a hold, a dry_run gate's fail) is logged and
// published as a "gate" event; what acts is in the decision's event.
func (c *Controller) checkGates(ctx context.Context, rc *routeCtl, st rs.State, key string, f *Figures, v verdict, reason string, now time.Time) (verdict, string) {
	res, ok := rc.gates.poll(ctx, key, rc.plan.Gates, GateInput{Route: rc.name, Step: st.Step, Weight: st.Weight,
		StepStarted: st.StepStarted, Figures: *f})
	if !ok {
		if v == promote {
			return wait, "rollout.gates: the check of this step is under way"
		}
		return v, reason
	}
	f.Gates = res
	v, reason = judgeGates(v, reason, res)
	if v == promote {
		// The bucket keeps the reason (ficus routes list shows it): it says
		// what each gate measured against what.
		brief := make([]string, len(res))
		for i, r := range res {
			brief[i] = fmt.Sprintf("%s %s %g (%s)", r.Name, r.Verdict, r.Value, r.Threshold)
			if r.DryRun {
				brief[i] += " dry_run"
			}
		}
		reason += "; gates: " + strings.Join(brief, ", ")
	}
	var quiet, shapes []string // what the gates say that does not act
	for _, r := range res {
		if r.Verdict != GatePass && (r.DryRun || r.Verdict == GateHold) {
			quiet = append(quiet, string(r.Verdict)+" "+r.Name+": "+r.Reason)
			shapes = append(shapes, string(r.Verdict)+" "+r.Name+": "+withoutNumbers(r.Reason))
		}
	}
	// A change is what the gates say, not the figures in it: a hold that
	// counts its samples (or the seconds of its step) is published once,
	// not every second, and so notified once.
	seen := strings.Join(shapes, "\n")
	if seen != rc.gateSeen {
		rc.gateSeen = seen
		msg := "every rollout gate passes"
		if v != fail {
			if seen != "" {
				msg = "rollout gates that do not act: " + strings.Join(quiet, "; ")
			}
			fc := *f
			emit(c.cfg.Conn, c.cfg.Notify, c.log, Event{Route: rc.name, Action: ActGate, From: st.Weight, To: st.Weight,
				Step: st.Step, Phase: st.Phase, Reason: msg, Figures: &fc, By: c.cfg.Instance, At: now.UTC()})
		}
	}
	return v, reason
}

// checkComplete runs the plan's Complete check (complete_when) at the last
// step once everything else would complete the rollout: it completes only
// when the check passes. Anything else keeps the route at the last step;
// a change in what the check says is logged and published as a "gate"
// event, with the check's result in the figures.
func (c *Controller) checkComplete(ctx context.Context, rc *routeCtl, st rs.State, key string, f *Figures, reason string, now time.Time) (verdict, string) {
	res, ok := rc.complete.poll(ctx, key, []Gate{rc.plan.Complete}, GateInput{Route: rc.name, Step: st.Step, Weight: st.Weight,
		StepStarted: st.StepStarted, Figures: *f})
	if !ok {
		return wait, "complete_when: " + rc.plan.Complete.Name() + " is under way"
	}
	r := res[0]
	f.Gates = append(f.Gates, r)
	if r.Verdict == GatePass {
		return promote, reason + "; complete_when: " + r.Reason
	}
	msg := "the last step does not complete yet: " + r.String()
	if msg != rc.completeSeen {
		rc.completeSeen = msg
		c.log.Info("rollout holds at its last step", "route", rc.name, "reason", msg)
		fc := *f
		emit(c.cfg.Conn, c.cfg.Notify, c.log, Event{Route: rc.name, Action: ActGate, From: st.Weight, To: st.Weight,
			Step: st.Step, Phase: st.Phase, Reason: msg, Figures: &fc, By: c.cfg.Instance, At: now.UTC()})
	}
	return wait, msg
}

// withoutNumbers replaces every run of digits (with their decimal points)
// by "#".
func withoutNumbers(s string) string {
	var b strings.Builder
	in := false
	for _, c := range s {
		digit := c >= '0' && c <= '9' || (in && c == '.')
		if digit && !in {
			b.WriteByte('#')
		}
		if !digit {
			b.WriteRune(c)
		}
		in = digit
	}
	return b.String()
}
