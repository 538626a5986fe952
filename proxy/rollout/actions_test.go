package rollout

import (
	"errors"
	"testing"
	"time"

	rs "github.com/ficus-migrate/ficus/proxy/routestate"
)

func TestManualActions(t *testing.T) {
	plan := &Plan{Steps: []float64{1, 5, 25, 100}, Interval: time.Minute, OnFailure: Rollback}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rolling := rs.State{Weight: 5, Step: 1, Phase: rs.PhaseRolling, StepStarted: now.Add(-time.Hour)}
	cases := []struct {
		name   string
		act    string
		from   rs.State
		plan   *Plan
		weight float64
		want   rs.State // Reason, By, At, StepStarted not compared
		err    error
	}{
		{"promote holds the route", ActPromote, rolling, plan, 0, rs.State{Weight: 25, Step: 2, Phase: rs.PhaseRolling, Manual: true}, nil},
		{"promote to the last step completes", ActPromote, rs.State{Weight: 25, Step: 2, Phase: rs.PhaseRolling}, plan, 0, rs.State{Weight: 100, Step: 3, Phase: rs.PhaseComplete, Manual: true}, nil},
		{"promote past the last step", ActPromote, rs.State{Weight: 100, Step: 3, Phase: rs.PhaseComplete}, plan, 0, rs.State{}, ErrConflict},
		{"promote without a plan", ActPromote, rolling, nil, 0, rs.State{}, ErrNoPlan},
		{"rollback", ActRollback, rolling, plan, 0, rs.State{Weight: 0, Step: -1, Phase: rs.PhaseRolledBack, Manual: true}, nil},
		{"rollback without a plan", ActRollback, rs.State{Weight: 40, Step: -1}, nil, 0, rs.State{Weight: 0, Step: -1, Phase: rs.PhaseRolledBack, Manual: true}, nil},
		{"pause", ActPause, rolling, plan, 0, rs.State{Weight: 5, Step: 1, Phase: rs.PhasePaused, Manual: true}, nil},
		{"set between steps", ActSet, rolling, plan, 10, rs.State{Weight: 10, Step: 1, Phase: rs.PhaseRolling, Manual: true}, nil},
		{"set out of range", ActSet, rolling, plan, 101, rs.State{}, errors.New("")},
		{"resume after a pause", ActResume, rs.State{Weight: 5, Step: 1, Phase: rs.PhasePaused, Manual: true}, plan, 0, rs.State{Weight: 5, Step: 1, Phase: rs.PhaseRolling}, nil},
		{"resume after a rollback starts over", ActResume, rs.State{Weight: 0, Step: -1, Phase: rs.PhaseRolledBack, Manual: true}, plan, 0, rs.State{Weight: 0, Step: -1, Phase: rs.PhaseRolling}, nil},
		{"unknown action", "boost", rolling, plan, 0, rs.State{}, errors.New("")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := manual(c.act, c.from, c.plan, c.weight, now, "op")
			if c.err != nil {
				if err == nil || (c.err.Error() != "" && !errors.Is(err, c.err)) {
					t.Fatalf("err = %v, want %v", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Reason == "" || got.By != "op" || !got.At.Equal(now) {
				t.Fatalf("no reason, author or time: %+v", got)
			}
			got.Reason, got.By, got.At, got.StepStarted = "", "", time.Time{}, time.Time{}
			if got != c.want {
				t.Fatalf("state = %+v, want %+v", got, c.want)
			}
		})
	}
}

// An approval is only for a route that waits; every other operator action
// overtakes the wait.
func TestApproveAction(t *testing.T) {
	plan := &Plan{Steps: []float64{1, 50, 100}, Interval: time.Minute, OnFailure: Rollback, ApproveAt: []float64{50}}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	since := now.Add(-time.Hour)
	waiting := rs.State{Weight: 1, Step: 0, Phase: rs.PhaseRolling, AwaitingApproval: 50, AwaitingSince: since}

	got, err := manual(ActApprove, waiting, plan, 0, now, "op")
	if err != nil {
		t.Fatal(err)
	}
	if got.Manual || got.Weight != 1 || got.AwaitingApproval != 50 || !got.AwaitingSince.Equal(since) ||
		got.ApprovedBy != "op" || !got.ApprovedAt.Equal(now) || got.Waiting() {
		t.Fatalf("approved: %+v, want the wait kept with the approval, weight unchanged, not manual", got)
	}
	if _, err := manual(ActApprove, got, plan, 0, now, "op"); !errors.Is(err, ErrConflict) {
		t.Fatalf("approving twice: %v, want a conflict", err)
	}
	if _, err := manual(ActApprove, rs.State{Weight: 1, Step: 0, Phase: rs.PhaseRolling}, plan, 0, now, "op"); !errors.Is(err, ErrConflict) {
		t.Fatalf("approving a route that does not wait: %v, want a conflict", err)
	}
	if _, err := manual(ActApprove, waiting, nil, 0, now, "op"); !errors.Is(err, ErrNoPlan) {
		t.Fatalf("approving without a plan: %v, want ErrNoPlan", err)
	}
	for _, act := range []string{ActPause, ActRollback, ActPromote, ActSet} {
		got, err := manual(act, waiting, plan, 10, now, "op")
		if err != nil || got.AwaitingApproval != 0 || !got.AwaitingSince.IsZero() {
			t.Fatalf("%s while waiting: %+v (%v), want the wait cleared", act, got, err)
		}
	}
}
