package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	rs "github.com/ficus-migrate/ficus/proxy/routestate"
)

// ControllerConfig configures a Controller.
type ControllerConfig struct {
	Store *rs.Store
	// Conn receives every process's reports and carries the events.
	Conn *nats.Conn
	// Plans are the rollouts this process can drive, by route.
	Plans map[string]Plan
	// Instance names this process as lease holder and in events.
	Instance string
	// Tick is how often each route is evaluated [1s].
	Tick time.Duration
	// LeaseTTL is how long a silent lease holder keeps a route [4s].
	LeaseTTL time.Duration
	// Registerer receives the rollout metrics [a private registry].
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Notify receives every decision this controller makes [none].
	Notify Notifier
}

// Controller runs in every process and acts on the routes whose lease it holds.
type Controller struct {
	cfg ControllerConfig
	log *slog.Logger
	met *metrics
}

// NewController validates the plans and returns a controller.
func NewController(cfg ControllerConfig) (*Controller, error) {
	for name, p := range cfg.Plans {
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("route %q: %w", name, err)
		}
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 4 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	met, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Controller{cfg: cfg, log: cfg.Logger.With("component", "rollout"), met: met}, nil
}

// routeCtl is the controller's hold on one route.
type routeCtl struct {
	name  string
	plan  Plan
	lease *rs.Lease

	mu  sync.Mutex // guards win: reports arrive on NATS's goroutine
	win *window
	sub *nats.Subscription
	// stepKey identifies the step the window measures; a change (ours,
	// an operator's, another holder's) starts a new window.
	stepKey string
	// holding is set while NATS is unreachable (see evaluate).
	holding bool
	// gates runs rollout.gates off the tick; gateSeen is what was last
	// logged and published of them, so only changes are.
	gates    gateRun
	gateSeen string
	// complete runs the plan's Complete check; completeSeen is what was
	// last published of it.
	complete     gateRun
	completeSeen string
}

// HoldReason is why every rollout holds while NATS is unreachable.
const HoldReason = "NATS unreachable: rollout holds (no promotion, no rollback on partial figures) until it is back"

// Run evaluates every route each tick until ctx ends, then releases the
// leases it holds so another process takes over at once.
func (c *Controller) Run(ctx context.Context) error {
	names := make([]string, 0, len(c.cfg.Plans))
	for n := range c.cfg.Plans {
		names = append(names, n)
	}
	sort.Strings(names)
	ctls := make([]*routeCtl, len(names))
	for i, n := range names {
		p := c.cfg.Plans[n]
		ctls[i] = &routeCtl{name: n, plan: p, lease: c.cfg.Store.NewLease(n, c.cfg.Instance, c.cfg.LeaseTTL),
			complete: gateRun{timeout: p.CompleteTimeout, gap: p.Interval}}
	}
	t := time.NewTicker(c.cfg.Tick)
	defer t.Stop()
	for {
		for _, rc := range ctls {
			c.evaluate(ctx, rc, time.Now())
		}
		select {
		case <-ctx.Done():
			rel, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			for _, rc := range ctls {
				c.drop(rc)
				rc.lease.Release(rel)
			}
			cancel()
			return nil
		case <-t.C:
		}
	}
}

func (c *Controller) drop(rc *routeCtl) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.sub != nil {
		_ = rc.sub.Unsubscribe()
		rc.sub, rc.win, rc.stepKey = nil, nil, ""
	}
}

// take starts listening to the route's reports on acquiring its lease.
func (c *Controller) take(rc *routeCtl, now time.Time) error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.sub != nil {
		return nil
	}
	rc.win = newWindow(now)
	sub, err := c.cfg.Conn.Subscribe(StatsPrefix+rc.name, func(m *nats.Msg) {
		var r Report
		if json.Unmarshal(m.Data, &r) != nil || r.Instance == "" {
			return
		}
		rc.mu.Lock()
		if rc.win != nil {
			rc.win.add(r)
		}
		rc.mu.Unlock()
	})
	if err != nil {
		rc.win = nil
		return err
	}
	rc.sub = sub
	c.log.Info("controlling the route's rollout (lease taken)", "route", rc.name, "instance", c.cfg.Instance)
	return nil
}

func (c *Controller) evaluate(ctx context.Context, rc *routeCtl, now time.Time) {
	// Without NATS the counters of the other processes do not arrive: the
	// window would judge partial figures, promote on too few errors or roll
	// back on too few requests. Hold, and start a fresh window once NATS
	// is back (take does).
	if !c.cfg.Conn.IsConnected() {
		if !rc.holding {
			rc.holding = true
			c.log.Warn("rollout holds", "route", rc.name, "reason", HoldReason)
		}
		c.drop(rc)
		return
	}
	if rc.holding {
		rc.holding = false
		c.log.Info("NATS is back: rollout resumes with a fresh window", "route", rc.name)
	}
	tctx, cancel := context.WithTimeout(ctx, c.cfg.Tick)
	defer cancel()
	held := rc.lease.Tick(tctx, now)
	c.met.leaseHeld.WithLabelValues(rc.name).Set(map[bool]float64{true: 1}[held])
	if !held {
		if rc.sub != nil {
			c.log.Info("no longer controlling the route (lease lost)", "route", rc.name)
			c.drop(rc)
		}
		return
	}
	if err := c.take(rc, now); err != nil {
		c.log.Warn("cannot subscribe to route counters", "route", rc.name, "err", err)
		return
	}
	st, _, err := c.cfg.Store.Get(tctx, rc.name)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			c.log.Warn("cannot read route state", "route", rc.name, "err", err)
		}
		return
	}
	rc.mu.Lock()
	key := fmt.Sprintf("%d/%v/%s", st.Step, st.Weight, st.StepStarted.Format(time.RFC3339Nano))
	if key != rc.stepKey {
		rc.stepKey = key
		rc.win.reset(now)
		startWindows(rc.plan.Gates, now)
	}
	f := rc.win.figures(now)
	rc.mu.Unlock()
	if st.Manual {
		return
	}
	switch {
	case st.Phase == rs.PhaseNone, st.Phase == rs.PhaseRolling && st.Step < 0:
		c.start(tctx, rc, st, now)
	case st.Phase == rs.PhaseRolling:
		v, reason := judge(rc.plan, f, now.Sub(st.StepStarted))
		if v != fail && len(rc.plan.Gates) > 0 && f.NewRequests >= rc.plan.MinRequests {
			v, reason = c.checkGates(ctx, rc, st, key, &f, v, reason, now)
		}
		if v == promote && rc.plan.Complete != nil && st.Step == rc.plan.last() {
			v, reason = c.checkComplete(ctx, rc, st, key, &f, reason, now)
		}
		switch v {
		case promote:
			c.promote(tctx, rc, st, f, reason, now)
		case fail:
			c.fail(tctx, rc, st, f, reason, now)
		default:
			c.log.Debug("rollout waits", "route", rc.name, "reason", reason)
		}
	}
}

// start puts a route whose rollout has not begun on its first step (or,
// when its weight is already past some steps, on the highest of those).
func (c *Controller) start(ctx context.Context, rc *routeCtl, st rs.State, now time.Time) {
	i := rc.plan.stepAt(st.Weight)
	if i < 0 {
		i = 0
	}
	approval := ""
	if st.Weight < rc.plan.Steps[i] { // the start raises the weight: approve_at applies
		var hold bool
		if hold, approval = c.awaitApproval(ctx, rc, st, nil, i, "the rollout starts there", now); hold {
			return
		}
	}
	c.write(ctx, rc, st, nil, ActStart, func(next *rs.State) {
		next.Step, next.Weight, next.Phase = i, rc.plan.Steps[i], rs.PhaseRolling
		if i == rc.plan.last() && rc.plan.Complete == nil {
			next.Phase = rs.PhaseComplete
		}
		next.Reason = fmt.Sprintf("rollout started at step %d of %d (weight %v)%s", i+1, len(rc.plan.Steps), next.Weight, approval)
	}, now)
}

func (c *Controller) promote(ctx context.Context, rc *routeCtl, st rs.State, f Figures, reason string, now time.Time) {
	last := rc.plan.last()
	i := st.Step + 1
	act := ActPromote
	if i >= last {
		// With complete_when the last step is set first and completes
		// once its check passes (checkComplete).
		i = last
		if rc.plan.Complete == nil || st.Step == last {
			act = ActComplete
		}
	}
	approval := ""
	if st.Step != last { // completing sets no new weight: nothing to approve
		var hold bool
		if hold, approval = c.awaitApproval(ctx, rc, st, &f, i, reason, now); hold {
			return
		}
	}
	c.write(ctx, rc, st, &f, act, func(next *rs.State) {
		next.Step, next.Weight = i, rc.plan.Steps[i]
		if act == ActComplete {
			next.Phase = rs.PhaseComplete
		}
		next.Reason = fmt.Sprintf("step %d of %d (weight %v)%s: %s", i+1, len(rc.plan.Steps), next.Weight, approval, reason)
	}, now)
}

// awaitApproval is the approve_at check before the controller sets step
// i: hold is true while the route must wait for an operator. The first
// time, it records the wait in the bucket (so that it survives restarts and
// lease hand-overs) and publishes it; the step's start and figures are left
// as they are, so the gates go on judging the step the route is at, and a
// breach still rolls back. Once approved, approval is the words that say
// so in the decision's reason.
func (c *Controller) awaitApproval(ctx context.Context, rc *routeCtl, st rs.State, f *Figures, i int, reason string, now time.Time) (hold bool, approval string) {
	if !rc.plan.needsApproval(i) {
		return false, ""
	}
	w := rc.plan.Steps[i]
	if st.AwaitingApproval == w {
		if st.Waiting() {
			c.log.Debug("rollout waits for approval", "route", rc.name, "weight", w, "since", st.AwaitingSince)
			return true, ""
		}
		return false, fmt.Sprintf(", approved by %s at %s after %s waiting", st.ApprovedBy,
			st.ApprovedAt.Format(time.RFC3339), st.ApprovedAt.Sub(st.AwaitingSince).Round(time.Second))
	}
	started := st.StepStarted
	c.write(ctx, rc, st, f, ActAwait, func(next *rs.State) {
		next.StepStarted = started // the step goes on: its window and interval too
		next.AwaitingApproval, next.AwaitingSince = w, now.UTC()
		next.Reason = fmt.Sprintf("step %d of %d (weight %v) waits for approval (approve_at; ficus routes approve %s): %s",
			i+1, len(rc.plan.Steps), w, rc.name, reason)
	}, now)
	return true, ""
}

func (c *Controller) fail(ctx context.Context, rc *routeCtl, st rs.State, f Figures, reason string, now time.Time) {
	act := ActPause
	if rc.plan.OnFailure == Rollback {
		act = ActRollback
	}
	c.write(ctx, rc, st, &f, act, func(next *rs.State) {
		if act == ActRollback {
			next.Weight, next.Step, next.Phase = 0, -1, rs.PhaseRolledBack
		} else {
			next.Phase = rs.PhasePaused
		}
		next.Reason = "gate breached: " + reason
	}, now)
}

// write changes the state only if it is still exactly what was judged
// (compare-and-set) and the lease is still fresh: a decision is never
// applied twice, nor over an operator's action.
func (c *Controller) write(ctx context.Context, rc *routeCtl, judged rs.State, f *Figures, act string, change func(*rs.State), now time.Time) {
	if !rc.lease.Held(time.Now()) {
		return
	}
	next, err := c.cfg.Store.Update(ctx, rc.name, func(cur rs.State) (rs.State, error) {
		if cur.Step != judged.Step || cur.Weight != judged.Weight || cur.Phase != judged.Phase ||
			cur.Manual || !cur.StepStarted.Equal(judged.StepStarted) ||
			cur.AwaitingApproval != judged.AwaitingApproval || !cur.ApprovedAt.Equal(judged.ApprovedAt) {
			return cur, rs.ErrSkip
		}
		next := cur
		// Every decision starts a step (or ends the rollout) and settles
		// a pending approval, except the decision to wait for one.
		next.StepStarted = now.UTC()
		next.ClearApproval()
		change(&next)
		next.At, next.By = now.UTC(), c.cfg.Instance
		return next, nil
	})
	if errors.Is(err, rs.ErrSkip) {
		return
	}
	if err != nil {
		c.log.Warn("cannot write the rollout decision; it will be judged again", "route", rc.name, "action", act, "err", err)
		return
	}
	c.met.decisions.WithLabelValues(rc.name, act).Inc()
	emit(c.cfg.Conn, c.cfg.Notify, c.log, Event{Route: rc.name, Action: act, From: judged.Weight, To: next.Weight, Step: next.Step,
		Phase: next.Phase, Reason: next.Reason, Figures: f, By: c.cfg.Instance, At: next.At})
}
