package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/ficus-migrate/ficus/capture/backfill"
	"github.com/ficus-migrate/ficus/internal/admin/api"
	"github.com/ficus-migrate/ficus/internal/admin/dashboard"
	"github.com/ficus-migrate/ficus/proxy"
	"github.com/ficus-migrate/ficus/proxy/rollout"
	"github.com/ficus-migrate/ficus/shadow/data/continuous"
	"github.com/ficus-migrate/ficus/shadow/report"
	"github.com/ficus-migrate/ficus/shadow/traffic/mirror"
)

// Routes is GET /api/routes: the routes this process applies, in match
// order, with its request counters.
func (c *Client) Routes(ctx context.Context) ([]proxy.RouteInfo, error) {
	var out []proxy.RouteInfo
	err := c.Get(ctx, "/api/routes", &out)
	return out, err
}

// SetWeight is PUT /api/routes/{name}: the weight goes to the shared route
// state, which every ficus on the same NATS applies; the route is then held
// by the operator (manual) until resumed.
func (c *Client) SetWeight(ctx context.Context, route string, weight float64) (rollout.StateView, error) {
	var out rollout.StateView
	err := c.call(ctx, http.MethodPut, "/api/routes/"+url.PathEscape(route), map[string]float64{"weight": weight}, &out)
	return out, err
}

// Act is POST /api/routes/{name}/{action}, action one of rollout.ActPromote,
// ActRollback, ActPause and ActResume.
func (c *Client) Act(ctx context.Context, route, action string) (rollout.StateView, error) {
	var out rollout.StateView
	err := c.call(ctx, http.MethodPost, "/api/routes/"+url.PathEscape(route)+"/"+url.PathEscape(action), nil, &out)
	return out, err
}

// Approve is POST /api/routes/{name}/approve: the operator's approval of
// the step a route waits at (rollout.approve_at); the lease holder sets it
// at its next tick. A route that does not wait is a StatusError of 409.
func (c *Client) Approve(ctx context.Context, route string) (rollout.StateView, error) {
	return c.Act(ctx, route, rollout.ActApprove)
}

// Rollout is GET /api/rollout: every route's shared state, by name.
func (c *Client) Rollout(ctx context.Context) ([]rollout.StateView, error) {
	var out []rollout.StateView
	err := c.Get(ctx, "/api/rollout", &out)
	return out, err
}

// Shadow is GET /api/shadow/{route}: the shadow comparison's figures for a
// route; ErrNotFound when the route is not shadowed.
func (c *Client) Shadow(ctx context.Context, route string) (mirror.Stats, error) {
	var out mirror.Stats
	err := c.Get(ctx, "/api/shadow/"+url.PathEscape(route), &out)
	return out, err
}

// Data is GET /api/data/{name}: a continuous data comparison's figures;
// ErrNotFound when there is no compare_data of that name.
func (c *Client) Data(ctx context.Context, name string) (continuous.Figures, error) {
	var out continuous.Figures
	err := c.Get(ctx, "/api/data/"+url.PathEscape(name), &out)
	return out, err
}

// Report is GET /api/report: the mismatches recorded over the last since
// (the server's default window, 15 minutes, when since is 0).
func (c *Client) Report(ctx context.Context, since time.Duration) (report.Report, error) {
	path := "/api/report"
	if since > 0 {
		path += "?since=" + url.QueryEscape(since.String())
	}
	var out report.Report
	err := c.Get(ctx, path, &out)
	return out, err
}

// Health is GET /api/health: readiness and the state of every component.
func (c *Client) Health(ctx context.Context) (api.Health, error) {
	var out api.Health
	err := c.Get(ctx, "/api/health", &out)
	return out, err
}

// Ready is /readyz. A ficus that answers "not ready" (503) is an answer, not
// an error: the error is for a request that failed or another status.
// Without the right token only Ready is filled in.
func (c *Client) Ready(ctx context.Context) (api.Readiness, error) {
	const path = "/readyz"
	var out api.Readiness
	code, status, body, err := c.roundTrip(ctx, http.MethodGet, path, nil)
	if err != nil {
		return out, err
	}
	if code != http.StatusServiceUnavailable {
		if err := statusError(http.MethodGet, path, code, status, body); err != nil {
			return out, err
		}
	}
	err = decode(http.MethodGet, path, body, &out)
	return out, err
}

// Backfill is POST /api/capture/{source}/backfill: it queues a backfill of
// a captured table on the process streaming the source. A standby answers
// a StatusError of 409, a request the source refuses one of 400.
func (c *Client) Backfill(ctx context.Context, source string, r backfill.Request) (backfill.Job, error) {
	var out backfill.Job
	err := c.call(ctx, http.MethodPost, "/api/capture/"+url.PathEscape(source)+"/backfill", r, &out)
	return out, err
}

// Capture is GET /api/capture/{source}: the source's figures, its hot
// standby state and its backfill section.
func (c *Client) Capture(ctx context.Context, source string) (dashboard.SourceStatus, error) {
	var out dashboard.SourceStatus
	err := c.Get(ctx, "/api/capture/"+url.PathEscape(source), &out)
	return out, err
}
