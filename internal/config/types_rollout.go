package config

import "time"

// Rollout raises a route's weight step by step while the new service keeps
// up, and rolls it back (or pauses) the moment a gate is breached. The
// figures judged are the sums over every ficus process sharing the NATS
// bucket ficus_routes.
type Rollout struct {
	// Steps are the weights, in strictly increasing order, each above 0
	// and at most 100. Required.
	Steps []float64 `yaml:"steps"`
	// Interval is the minimum time at each step. Default: 5m.
	Interval time.Duration `yaml:"interval"`
	// MinRequests is the number of requests new must serve at a step
	// before the step is judged at all, 1 to 1000000000. Default: 500.
	MinRequests int64 `yaml:"min_requests"`
	// MaxMismatchRate is the highest shadow mismatch rate (mismatched /
	// compared, noise excluded), 0 to 1. Needs shadow on the route to
	// have data; without it the gate holds. Default: 0.01.
	MaxMismatchRate float64 `yaml:"max_mismatch_rate"`
	// MaxErrorRateDelta is the highest new 5xx rate minus legacy 5xx
	// rate, 0 to 1. Default: 0.005.
	MaxErrorRateDelta float64 `yaml:"max_error_rate_delta"`
	// MaxP99Ratio is the highest new p99 latency / legacy p99 latency,
	// 0.01 to 1000000. Default: 1.5.
	MaxP99Ratio float64 `yaml:"max_p99_ratio"`
	// OnFailure is rollback (weight 0, paused) or pause (hold the current
	// step). Default: rollback.
	OnFailure OnFailure `yaml:"on_failure"`
	// Notify are the webhooks told of every decision on the route (the
	// controller's and the operators'), each by the process that made it.
	// Delivery never holds up the controller: per target a bounded queue,
	// retries with backoff, a count of what was dropped or given up.
	Notify []RolloutNotify `yaml:"notify,omitempty"`
	// ApproveAt are steps (each one of Steps) the controller does not set
	// by itself: once the step before holds its gates for the interval,
	// the route waits for `ficus routes approve NAME` (or the dashboard's
	// button). The step before is still judged while it waits. Default:
	// none.
	ApproveAt []float64 `yaml:"approve_at"`
	// Gates are checks beyond the figures: Prometheus queries and
	// webhooks. Default: none.
	Gates RolloutGates `yaml:"gates,omitempty"`
	// CompleteWhen keeps the last step from completing until a reconcile
	// run is clean enough: the route stays at the last step (phase
	// rolling) with the differing keys in its reason, and the run is
	// repeated an interval later. Default: none (the last step completes
	// as it is set).
	CompleteWhen *CompleteWhen `yaml:"complete_when,omitempty"`
}

// RolloutNotify is one webhook that receives the route's rollout decisions.
type RolloutNotify struct {
	// URL receives one POST per decision: http:// or https://. Required.
	// A secret (a Slack webhook URL is a credential): printed as
	// scheme://host/REDACTED.
	URL SecretURL `yaml:"url"`
	// Format is json (the event as published on ficus.rollout.<route>) or
	// slack (an incoming-webhook body {"text": "…"}). Default: json.
	Format NotifyFormat `yaml:"format"`
}

// NotifyFormat is the body a rollout webhook receives.
type NotifyFormat string

// Notify formats.
const (
	NotifyJSON  NotifyFormat = "json"
	NotifySlack NotifyFormat = "slack"
)

// OnFailure is what a breached rollout gate does.
type OnFailure string

// On-failure actions.
const (
	OnFailureRollback OnFailure = "rollback"
	OnFailurePause    OnFailure = "pause"
)

func defaultRollout() Rollout {
	return Rollout{
		Interval: 5 * time.Minute, MinRequests: 500, MaxMismatchRate: 0.01,
		MaxErrorRateDelta: 0.005, MaxP99Ratio: 1.5, OnFailure: OnFailureRollback,
	}
}
