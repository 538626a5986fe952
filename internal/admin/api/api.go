// Package api holds the JSON answers of the admin listener's own endpoints,
// /readyz and GET /api/health: internal/admin encodes them and
// internal/admin/client decodes them, so the two cannot drift apart.
//
// The other endpoints answer the types of the packages that serve them, and
// the client decodes those same types:
//
//	GET  /api/routes                  []proxy.RouteInfo
//	PUT  /api/routes/{name}           rollout.StateView
//	POST /api/routes/{name}/{action}  rollout.StateView
//	GET  /api/rollout                 []rollout.StateView
//	GET  /api/shadow/{route}          mirror.Stats
//	GET  /api/data/{name}             dual.Figures
//	GET  /api/report                  report.Report
//	GET  /api/capture/{source}        dashboard.SourceStatus
//	POST /api/capture/{source}/backfill backfill.Job (body backfill.Request)
//	GET  /metrics                     Prometheus text (Client.Metrics, Client.Samples)
//
// GET /api/dashboard and /api/capture are the dashboard page's own
// (internal/admin/dashboard); Client.Get reads them.
//
// It is a package of its own, without the server, so that a client does not
// link the listener (net/http/pprof registers itself on
// http.DefaultServeMux when imported).
package api

// CheckResult is one readiness check's verdict: a part of the request path.
type CheckResult struct {
	Name  string `json:"name"`
	Ready bool   `json:"ready"`
	Error string `json:"error,omitempty"`
}

// ComponentResult is the state of a part outside the request path.
type ComponentResult struct {
	Name string `json:"name"`
	// Status is ComponentUp or ComponentDegraded.
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// Component states.
const (
	ComponentUp       = "up"
	ComponentDegraded = "degraded"
)

// Health is GET /api/health: the request path's verdict and the state of
// every component.
type Health struct {
	Ready bool `json:"ready"`
	// Status is StatusOK, StatusDegraded (ready, some component down) or
	// StatusNotReady.
	Status     string            `json:"status"`
	Checks     []CheckResult     `json:"checks"`
	Components []ComponentResult `json:"components"`
}

// Health statuses.
const (
	StatusOK       = "ok"
	StatusDegraded = "degraded"
	StatusNotReady = "not_ready"
)

// Readiness is /readyz, answered 200 when Ready and 503 when not. Without
// the token (when one is configured) only Ready is set: kubelet cannot send
// a Secret, and the reasons are for operators. Status and Components come
// with ?verbose.
type Readiness struct {
	Ready      bool              `json:"ready"`
	Status     string            `json:"status,omitempty"`
	Checks     []CheckResult     `json:"checks,omitempty"`
	Components []ComponentResult `json:"components,omitempty"`
}
