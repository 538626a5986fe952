// Package rollout raises a route's weight step by step while the new
// service keeps up, and rolls it back by itself the moment it does not.
// State lives in the ficus_routes bucket (package routestate); one process
// at a time acts on a route (a lease); the figures it judges are the sums
// of the counters every sidecar publishes; every decision is an event on
// ficus.rollout.<route>.
package rollout

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// OnFailure says what a breached gate does.
type OnFailure string

// On-failure actions.
const (
	Rollback OnFailure = "rollback" // weight 0, held
	Pause    OnFailure = "pause"    // hold the current step
)

// Plan is one route's rollout, as the config file gives it.
type Plan struct {
	// Steps are the weights, in increasing order.
	Steps []float64
	// Interval is the minimum time at each step.
	Interval time.Duration
	// MinRequests is the minimum number of requests new must serve at a
	// step before the step is judged at all.
	MinRequests uint64
	// MaxMismatchRate: shadow mismatches / compared (noise excluded).
	MaxMismatchRate float64
	// MaxErrorRateDelta: new 5xx rate minus legacy 5xx rate.
	MaxErrorRateDelta float64
	// MaxP99Ratio: new p99 latency / legacy p99 latency.
	MaxP99Ratio float64
	OnFailure   OnFailure
	// ApproveAt are the steps (weights, each one of Steps) the controller
	// does not set by itself: once the step before holds its gates, the
	// route waits for an operator's approval (POST
	// /api/routes/{name}/approve).
	ApproveAt []float64
	// Gates are checks beyond the figures (rollout.gates), run at each
	// decision once the step has served MinRequests: one that fails acts
	// per OnFailure, one that holds makes the step wait.
	Gates []Gate
	// Complete, when set (complete_when), is checked once the last step
	// has held its gates for Interval: the rollout completes only when it
	// passes; until then the route stays at the last step, phase rolling.
	// A check that does not pass is run again Interval after it ended;
	// CompleteTimeout bounds one [gateTimeout].
	Complete        Gate
	CompleteTimeout time.Duration
}

// Validate checks what the config loader does not: it is for callers that
// build plans by hand.
func (p Plan) Validate() error {
	if len(p.Steps) == 0 {
		return errors.New("rollout: no steps")
	}
	for i, s := range p.Steps {
		if s <= 0 || s > 100 || (i > 0 && s <= p.Steps[i-1]) {
			return fmt.Errorf("rollout: steps must increase within (0, 100], got %v", p.Steps)
		}
	}
	if p.Interval <= 0 {
		return errors.New("rollout: interval must be positive")
	}
	if p.OnFailure != Rollback && p.OnFailure != Pause {
		return fmt.Errorf("rollout: on_failure %q", p.OnFailure)
	}
	for _, a := range p.ApproveAt {
		if !slices.Contains(p.Steps, a) {
			return fmt.Errorf("rollout: approve_at %v is not one of the steps %v", a, p.Steps)
		}
	}
	return nil
}

// needsApproval reports whether step i waits for an operator's approval.
func (p Plan) needsApproval(i int) bool {
	return i >= 0 && i < len(p.Steps) && slices.Contains(p.ApproveAt, p.Steps[i])
}

// stepAt is the index of the highest step not above w, or -1.
func (p Plan) stepAt(w float64) int {
	i := -1
	for j, s := range p.Steps {
		if s <= w {
			i = j
		}
	}
	return i
}

func (p Plan) last() int { return len(p.Steps) - 1 }

// planJSON is a Plan as the admin API writes it: the config file's key
// names, the interval as a duration string ("1m0s").
type planJSON struct {
	Steps             []float64 `json:"steps"`
	Interval          string    `json:"interval"`
	MinRequests       uint64    `json:"min_requests"`
	MaxMismatchRate   float64   `json:"max_mismatch_rate"`
	MaxErrorRateDelta float64   `json:"max_error_rate_delta"`
	MaxP99Ratio       float64   `json:"max_p99_ratio"`
	OnFailure         OnFailure `json:"on_failure"`
	ApproveAt         []float64 `json:"approve_at,omitempty"`
}

// MarshalJSON writes the plan with the config file's key names.
func (p Plan) MarshalJSON() ([]byte, error) {
	return json.Marshal(planJSON{p.Steps, p.Interval.String(), p.MinRequests, p.MaxMismatchRate, p.MaxErrorRateDelta,
		p.MaxP99Ratio, p.OnFailure, p.ApproveAt})
}

// UnmarshalJSON reads what MarshalJSON writes: the admin API's clients
// decode the plan in GET /api/rollout with it.
func (p *Plan) UnmarshalJSON(b []byte) error {
	var j planJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	var interval time.Duration
	if j.Interval != "" {
		d, err := time.ParseDuration(j.Interval)
		if err != nil {
			return fmt.Errorf("rollout plan: interval: %w", err)
		}
		interval = d
	}
	*p = Plan{Steps: j.Steps, Interval: interval, MinRequests: j.MinRequests, MaxMismatchRate: j.MaxMismatchRate,
		MaxErrorRateDelta: j.MaxErrorRateDelta, MaxP99Ratio: j.MaxP99Ratio, OnFailure: j.OnFailure, ApproveAt: j.ApproveAt}
	return nil
}
