package rollout

import (
	"errors"
	"fmt"
	"time"

	rs "github.com/ficus-migrate/ficus/proxy/routestate"
)

// Action names, as they appear in events and admin paths.
const (
	ActStart    = "start"
	ActPromote  = "promote"
	ActComplete = "complete"
	ActRollback = "rollback"
	ActPause    = "pause"
	ActResume   = "resume"
	ActSet      = "set"
	// ActApprove is an operator's approval of a step in approve_at; it
	// is not a manual action: the controller keeps driving the route.
	ActApprove = "approve"
	// ActAwait is the controller's decision to wait for an approval.
	ActAwait = "await_approval"
	// ActGate publishes a change in what rollout.gates say that changes no
	// weight: a gate that holds, or a dry_run gate that would act.
	ActGate = "gate"
)

// ErrNoPlan is returned for an action that needs a rollout the route lacks.
var ErrNoPlan = errors.New("route has no rollout configured")

// ErrConflict is returned for an action the route's state does not allow.
var ErrConflict = errors.New("not possible in the route's current state")

// manual applies an operator's action to st. Every manual action except
// resume sets Manual, which keeps the controller off the route until resume.
func manual(act string, st rs.State, plan *Plan, weight float64, now time.Time, by string) (rs.State, error) {
	next := st
	next.By, next.At = by, now
	if act == ActApprove {
		return approve(st, next, plan, now, by)
	}
	next.Manual = true
	// Any other action overtakes a pending approval: the operator decides
	// the weight now, and resume starts the judging afresh.
	next.ClearApproval()
	switch act {
	case ActSet:
		if weight < 0 || weight > 100 {
			return st, fmt.Errorf("weight must be between 0 and 100, got %v", weight)
		}
		next.Weight = weight
		next.StepStarted = now
		if plan != nil {
			next.Step = plan.stepAt(weight)
		}
		next.Reason = fmt.Sprintf("weight set to %v by an operator", weight)
	case ActPromote:
		if plan == nil {
			return st, ErrNoPlan
		}
		i := plan.stepAt(st.Weight) + 1
		if i > plan.last() {
			return st, fmt.Errorf("%w: already at the last step (%v)", ErrConflict, st.Weight)
		}
		next.Weight, next.Step, next.StepStarted = plan.Steps[i], i, now
		if next.Phase == rs.PhaseNone || next.Phase == rs.PhaseRolledBack {
			next.Phase = rs.PhasePaused
		}
		if i == plan.last() {
			next.Phase = rs.PhaseComplete
		}
		next.Reason = fmt.Sprintf("promoted to step %d (weight %v) by an operator", i+1, next.Weight)
	case ActRollback:
		next.Weight, next.Phase, next.StepStarted = 0, rs.PhaseRolledBack, now
		next.Step = -1
		next.Reason = "rolled back by an operator"
	case ActPause:
		if plan == nil {
			return st, ErrNoPlan
		}
		next.Phase = rs.PhasePaused
		next.Reason = "paused by an operator"
	case ActResume:
		if plan == nil {
			return st, ErrNoPlan
		}
		next.Manual = false
		next.Step = plan.stepAt(st.Weight)
		next.Phase = rs.PhaseRolling
		if next.Step == plan.last() {
			next.Phase = rs.PhaseComplete
		}
		next.StepStarted = now
		next.Reason = "resumed by an operator: the controller acts again"
	default:
		return st, fmt.Errorf("unknown action %q (want promote, rollback, pause, resume or approve)", act)
	}
	return next, nil
}

// approve records an operator's approval of the step the route waits for;
// the lease holder sets it at its next tick (after judging the gates once
// more). The route must be waiting: an approval given in advance would
// let a later, unjudged step through.
func approve(st, next rs.State, plan *Plan, now time.Time, by string) (rs.State, error) {
	if plan == nil {
		return st, ErrNoPlan
	}
	switch {
	case st.AwaitingApproval == 0:
		return st, fmt.Errorf("%w: the route is not waiting for approval (phase %q, weight %v)",
			ErrConflict, st.Phase, st.Weight)
	case !st.ApprovedAt.IsZero():
		return st, fmt.Errorf("%w: weight %v was already approved by %s at %s; the controller sets it at its next tick",
			ErrConflict, st.AwaitingApproval, st.ApprovedBy, st.ApprovedAt.Format(time.RFC3339))
	}
	next.ApprovedBy, next.ApprovedAt = by, now
	next.Reason = fmt.Sprintf("weight %v approved by an operator (waiting since %s); the controller sets it at its next tick",
		st.AwaitingApproval, st.AwaitingSince.Format(time.RFC3339))
	return next, nil
}
