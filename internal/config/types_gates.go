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
