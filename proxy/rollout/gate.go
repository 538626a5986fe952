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

// GateInput is what a gate is told about the step being judged.
type GateInput struct {
	Route   string  `json:"route"`
	Step    int     `json:"step"`
	Weight  float64 `json:"weight"`
	Figures Figures `json:"figures"`
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
	Reason    string      `json:"reason,omitempty"`
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
	if !g.running {
		g.running, g.done = true, false
		go g.run(ctx, key, gates, in)
	}
	return res, ok
}

func (g *gateRun) run(ctx context.Context, key string, gates []Gate, in GateInput) {
	ctx, cancel := context.WithTimeout(ctx, gateTimeout)
	defer cancel()
	res := make([]GateResult, len(gates))
	var wg sync.WaitGroup
	for i, gt := range gates {
		wg.Go(func() { res[i] = gt.Check(ctx, in) })
	}
	wg.Wait()
	g.mu.Lock()
	g.running, g.done, g.key, g.results = false, true, key, res
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
	res, ok := rc.gates.poll(ctx, key, rc.plan.Gates, GateInput{Route: rc.name, Step: st.Step, Weight: st.Weight, Figures: *f})
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
	var quiet []string // what the gates say that does not act
	for _, r := range res {
		if r.Verdict != GatePass && (r.DryRun || r.Verdict == GateHold) {
			quiet = append(quiet, string(r.Verdict)+" "+r.Name+": "+r.Reason)
		}
	}
	seen := strings.Join(quiet, "\n")
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
