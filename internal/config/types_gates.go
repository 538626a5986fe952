package config

import "time"

// RolloutGates are checks beyond the built-in figures, run by the route's
// lease holder at each decision once the step has served min_requests: a
// gate that fails acts per on_failure, one that holds makes the step wait
// with its reason. Every result (value, threshold, verdict, reason) is in
// the decision's figures.
type RolloutGates struct {
	// Prometheus are instant queries held to thresholds.
	Prometheus []PrometheusGate `yaml:"prometheus,omitempty"`
	// Webhook are receivers POSTed the step's figures: 2xx passes.
	Webhook []WebhookGate `yaml:"webhook,omitempty"`
	// Data hold a compare_data comparison's figures over the step to
	// thresholds.
	Data []DataGate `yaml:"data,omitempty"`
}

// DataGate holds the figures of a continuous data comparison (compare_data
// NAME, run by `ficus run`) over the step to thresholds: of the keys whose
// sides settled during the step (matched, or reported once max_lag
// passed), the share that differ and the share missing on one side, and
// how long after their commit the step's changes were compared (p99). The
// step is not promoted on it before the comparison's max_lag has passed
// since the step began (its own writes are judged no sooner), nor while
// no key settled; such a hold says why.
type DataGate struct {
	// Name identifies the gate in figures and logs, unique among the
	// route's gates. Default: the compare name.
	Name string `yaml:"name"`
	// Compare names the compare_data entry. Required.
	Compare string `yaml:"compare"`
	// MaxDifferRate is the highest share of settled keys reported as
	// differs, 0 to 1.
	MaxDifferRate *float64 `yaml:"max_differ_rate,omitempty"`
	// MaxMissingRate is the highest share of settled keys reported as
	// missing_in_new, missing_in_legacy or deleted_on_one_side, 0 to 1.
	MaxMissingRate *float64 `yaml:"max_missing_rate,omitempty"`
	// MaxBehindSeconds is the highest p99 of how long after its commit a
	// change was compared, in seconds. At least one max_* is required.
	MaxBehindSeconds *float64 `yaml:"max_behind_seconds,omitempty"`
	// DryRun gates are evaluated, logged and published, never acted on.
	DryRun bool `yaml:"dry_run"`
}

// CompleteWhen holds the rollout's last step until a reconcile run of a
// compare_data entry, started by the controller, finds at most
// MaxDifferences differing keys.
type CompleteWhen struct {
	// Reconcile names the compare_data entry to reconcile. Required.
	Reconcile string `yaml:"reconcile"`
	// MaxDifferences is the most differing keys a run may find for the
	// rollout to complete, 0 or more. Default: 0.
	MaxDifferences int64 `yaml:"max_differences"`
	// Timeout bounds one run. Default: 30m.
	Timeout time.Duration `yaml:"timeout"`
}

// PrometheusGate runs an instant query (GET URL/api/v1/query) and holds its
// one sample to max and min. No sample holds; more than one fails.
type PrometheusGate struct {
	// Name identifies the gate in figures and logs, unique among the
	// route's gates. Required.
	Name string `yaml:"name"`
	// URL is the Prometheus server, such as http://prometheus:9090: http://
	// or https://. Required. May carry credentials: printed as
	// scheme://host/REDACTED.
	URL SecretURL `yaml:"url"`
	// Query is the PromQL expression; it should return one sample.
	// Required.
	Query string `yaml:"query"`
	// Max is the highest value that passes. Max or Min is required.
	Max *float64 `yaml:"max,omitempty"`
	// Min is the lowest value that passes.
	Min *float64 `yaml:"min,omitempty"`
	// OnError is the verdict when the server gives no answer after 3 tries:
	// hold (the step waits) or fail (act per on_failure). Default: hold.
	OnError GateOnError `yaml:"on_error"`
	// Timeout bounds each try. Default: 10s.
	Timeout time.Duration `yaml:"timeout"`
	// DryRun gates are evaluated, logged and published, never acted on.
	DryRun bool `yaml:"dry_run"`
}

// WebhookGate POSTs the route, step, weight and figures as JSON: a 2xx
// answer passes; any other answer, or none within Timeout, fails with its
// body as the reason.
type WebhookGate struct {
	// Name identifies the gate, unique among the route's gates. Required.
	Name string `yaml:"name"`
	// URL receives the POST: http:// or https://. Required. A secret:
	// printed as scheme://host/REDACTED.
	URL SecretURL `yaml:"url"`
	// Timeout bounds the exchange. Default: 10s.
	Timeout time.Duration `yaml:"timeout"`
	// DryRun gates are evaluated, logged and published, never acted on.
	DryRun bool `yaml:"dry_run"`
}

// GateOnError is what a gate says when its source cannot answer.
type GateOnError string

// Gate on-error verdicts.
const (
	GateOnErrorHold GateOnError = "hold"
	GateOnErrorFail GateOnError = "fail"
)
