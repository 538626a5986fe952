package client_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ficus-migrate/ficus/internal/admin"
	"github.com/ficus-migrate/ficus/internal/admin/api"
	"github.com/ficus-migrate/ficus/internal/admin/client"
	"github.com/ficus-migrate/ficus/internal/admin/dashboard"
	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/proxy"
	"github.com/ficus-migrate/ficus/proxy/rollout"
	"github.com/ficus-migrate/ficus/proxy/route"
	rs "github.com/ficus-migrate/ficus/proxy/routestate"
	"github.com/ficus-migrate/ficus/shadow/data/continuous"
	"github.com/ficus-migrate/ficus/shadow/report"
	"github.com/ficus-migrate/ficus/shadow/traffic/mirror"
)

const token = "s3cret"

var quiet = slog.New(slog.DiscardHandler)

// ficus is an admin listener on loopback with the handlers ficus mounts,
// each the real one: routes (proxy), route state and rollout (over an
// embedded NATS), shadow figures, data figures, the report, health.
type ficus struct {
	srv   *admin.Server
	base  string
	nc    *nats.Conn // the route bucket's connection: closing it makes the bucket unreachable
	store *rs.Store
}

func startFicus(t *testing.T) *ficus {
	t.Helper()
	reg := prometheus.NewRegistry()
	srv, err := admin.New(admin.Config{Listen: "127.0.0.1:0", Token: token, Gatherer: reg, Registerer: reg, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	legacy, _ := url.Parse("http://127.0.0.1:1")
	neu, _ := url.Parse("http://127.0.0.1:2")

	p, err := proxy.New(proxy.Config{Legacy: legacy, Registerer: reg, Logger: quiet,
		Routes: []route.Spec{{Name: "orders", PathPrefix: "/api/orders", New: neu, Weight: 10}}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Handle("GET /api/routes", p.AdminHandler())

	n := testenv.MustStartNATS(t)
	nc := n.Connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	store, err := rs.Open(t.Context(), rs.Config{JS: js, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Seed(t.Context(), "orders", rs.State{Weight: 10, Step: 0}); err != nil {
		t.Fatal(err)
	}
	plan := rollout.Plan{Steps: []float64{10, 50, 100}, Interval: time.Minute, OnFailure: rollout.Rollback}
	h := rollout.NewAdmin(rollout.AdminConfig{Store: store, Routes: []string{"orders"},
		Plans: map[string]rollout.Plan{"orders": plan}, Events: nc, Instance: "test", Logger: quiet}).Handler()
	srv.Handle("PUT /api/routes/{name}", h)
	srv.Handle("POST /api/routes/{name}/{action}", h)
	srv.Handle("GET /api/rollout", h)

	m, err := mirror.New(mirror.Config{Legacy: legacy, Routes: []mirror.Route{{Name: "orders", New: neu, Sample: 1}}, Registerer: reg, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv.Handle("GET /api/shadow/{route}", m.Handler())

	c, err := continuous.New(continuous.Config{Name: "orders", JS: js, MaxLag: time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv.Handle("GET /api/data/{name}", continuous.Handler(map[string]*continuous.Comparer{"orders": c}))

	dashboard.New(dashboard.Config{Logger: quiet, Report: func(_ context.Context, since time.Time) (report.Report, error) {
		return report.Build(nil, since, time.Now()), nil
	}}).Mount(srv)

	srv.AddCheck("proxy", func(context.Context) error { return nil })
	srv.AddComponent("nats", func(context.Context) error {
		if !nc.IsConnected() {
			return errors.New("not connected to NATS")
		}
		return nil
	})
	return &ficus{srv: srv, base: run(t, srv), nc: nc, store: store}
}

// run serves srv until the test ends and returns its URL.
func run(t *testing.T, srv *admin.Server) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return "http://" + srv.Addr()
}

func (f *ficus) client(tok string) *client.Client {
	return client.New(client.Config{BaseURL: f.base + "/", Token: tok})
}

// Every typed call decodes the real handler's answer.
func TestEndpoints(t *testing.T) {
	f := startFicus(t)
	c := f.client(token)
	ctx := t.Context()

	routes, err := c.Routes(ctx)
	if err != nil || len(routes) != 1 || routes[0].Name != "orders" || routes[0].Weight != 10 || routes[0].Match.PathPrefix != "/api/orders" {
		t.Fatalf("Routes = %+v, %v", routes, err)
	}
	states, err := c.Rollout(ctx)
	if err != nil || len(states) != 1 || states[0].Name != "orders" || states[0].Plan == nil ||
		len(states[0].Plan.Steps) != 3 || states[0].Plan.Interval != time.Minute {
		t.Fatalf("Rollout = %+v, %v", states, err)
	}
	st, err := c.Act(ctx, "orders", rollout.ActPromote)
	if err != nil || st.Name != "orders" || st.Weight != 50 || !st.Manual {
		t.Fatalf("Act promote = %+v, %v", st, err)
	}
	st, err = c.SetWeight(ctx, "orders", 12.5)
	if err != nil || st.Weight != 12.5 || !st.Manual {
		t.Fatalf("SetWeight = %+v, %v", st, err)
	}
	sh, err := c.Shadow(ctx, "orders")
	if err != nil || sh.Route != "orders" || sh.Fields == nil {
		t.Fatalf("Shadow = %+v, %v", sh, err)
	}
	d, err := c.Data(ctx, "orders")
	if err != nil || d.Name != "orders" {
		t.Fatalf("Data = %+v, %v", d, err)
	}
	rep, err := c.Report(ctx, time.Hour)
	if err != nil || rep.Routes == nil || time.Since(rep.Since) < 59*time.Minute {
		t.Fatalf("Report = %+v, %v", rep, err)
	}
	h, err := c.Health(ctx)
	if err != nil || !h.Ready || h.Status != api.StatusOK || len(h.Checks) != 1 || len(h.Components) != 1 {
		t.Fatalf("Health = %+v, %v", h, err)
	}
	r, err := c.Ready(ctx)
	if err != nil || !r.Ready || len(r.Checks) != 1 || r.Checks[0].Name != "proxy" {
		t.Fatalf("Ready = %+v, %v", r, err)
	}
	var overview struct {
		Recorded bool `json:"recorded"`
	}
	if err := c.Get(ctx, "/api/dashboard", &overview); err != nil || !overview.Recorded {
		t.Fatalf("Get /api/dashboard = %+v, %v", overview, err)
	}
	text, err := c.Metrics(ctx)
	if err != nil || !strings.Contains(text, `ficus_component_up{component="nats"} 1`) {
		t.Fatalf("Metrics = %.300s, %v", text, err)
	}
}

// The token travels on every call; the server's refusals come back with
// the request, the status and the server's own reason.
func TestRefusalsCarryTheReason(t *testing.T) {
	f := startFicus(t)
	ctx := t.Context()

	_, err := f.client("wrong").Routes(ctx)
	const want401 = `GET /api/routes: 401 Unauthorized: {"error":"missing or wrong admin token (Authorization: Bearer …)"}`
	var se *client.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusUnauthorized || err.Error() != want401 {
		t.Fatalf("wrong token: %v, want %s", err, want401)
	}
	if _, err := f.client("").Act(ctx, "orders", rollout.ActPromote); err == nil || !strings.Contains(err.Error(), "POST /api/routes/orders/promote: 401") {
		t.Fatalf("promote without the token: %v", err)
	}
	// The probe's verdict needs no token; its reasons do.
	if r, err := f.client("").Ready(ctx); err != nil || !r.Ready || r.Checks != nil {
		t.Fatalf("Ready without the token = %+v, %v, want the verdict only", r, err)
	}

	// A name the listener does not answer as (DNS rebinding protection).
	_, port, _ := net.SplitHostPort(f.srv.Addr())
	dial := &net.Dialer{}
	rebound := client.New(client.Config{BaseURL: "http://ficus.example:" + port, Token: token, HTTP: &http.Client{
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dial.DialContext(ctx, network, f.srv.Addr())
		}}}})
	_, err = rebound.SetWeight(ctx, "orders", 100)
	if !errors.As(err, &se) || se.Code != http.StatusForbidden || se.Method != http.MethodPut || se.Path != "/api/routes/orders" ||
		!strings.Contains(se.Body, "admin.allowed_hosts") {
		t.Fatalf("rebound name: %v", err)
	}

	// Not found: the error says so and errors.Is tells it apart.
	_, err = f.client(token).Shadow(ctx, "nosuch")
	if !errors.Is(err, client.ErrNotFound) || !strings.Contains(err.Error(), "no shadowed route with this name") {
		t.Fatalf("unknown shadow route: %v", err)
	}
	if _, err := f.client(token).Act(ctx, "orders", "boost"); err == nil || errors.Is(err, client.ErrNotFound) ||
		!strings.Contains(err.Error(), "400 Bad Request") || !strings.Contains(err.Error(), "unknown action") {
		t.Fatalf("unknown action: %v", err)
	}

	// The bucket out of reach: 503 with the reason, and health says why.
	f.nc.Close()
	_, err = f.client(token).SetWeight(ctx, "orders", 100)
	if !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable || !strings.Contains(se.Body, "connection closed") {
		t.Fatalf("bucket unreachable: %v", err)
	}
	h, err := f.client(token).Health(ctx)
	if err != nil || h.Status != api.StatusDegraded || len(h.Components) != 1 || h.Components[0].Reason != "not connected to NATS" {
		t.Fatalf("Health with NATS gone = %+v, %v", h, err)
	}
	refused, err := f.client(token).Samples(ctx, "ficus_admin_refused_total")
	if err != nil {
		t.Fatal(err)
	}
	byReason := map[string]float64{}
	for _, s := range refused {
		byReason[s.Labels["reason"]] = s.Value
	}
	if byReason["token"] != 2 || byReason["host"] != 1 || byReason["origin"] != 0 {
		t.Fatalf("ficus_admin_refused_total = %v", byReason)
	}
}

// Not ready is an answer (503 with the reasons), not an error.
func TestNotReady(t *testing.T) {
	srv, err := admin.New(admin.Config{Listen: "127.0.0.1:0", Token: token, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv.AddCheck("proxy", func(context.Context) error { return errors.New("route table not loaded") })
	c := client.New(client.Config{BaseURL: run(t, srv), Token: token})
	r, err := c.Ready(t.Context())
	if err != nil || r.Ready || len(r.Checks) != 1 || r.Checks[0].Error != "route table not loaded" {
		t.Fatalf("Ready = %+v, %v", r, err)
	}
	if _, err := c.Routes(t.Context()); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Routes on a ficus without a proxy: %v", err)
	}
}

// A call ends with its context or the configured timeout, whichever is
// first, even when the server takes longer.
func TestTimeouts(t *testing.T) {
	srv, err := admin.New(admin.Config{Listen: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv.AddComponent("slow", func(ctx context.Context) error { // /api/health waits up to 2 s for it
		<-ctx.Done()
		return ctx.Err()
	})
	base := run(t, srv)
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		ctx     time.Duration
	}{
		{"context", time.Minute, 100 * time.Millisecond},
		{"config", 100 * time.Millisecond, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := client.New(client.Config{BaseURL: base, Timeout: tc.timeout})
			ctx, cancel := context.WithTimeout(t.Context(), tc.ctx)
			defer cancel()
			began := time.Now()
			_, err := c.Health(ctx)
			if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "GET /api/health: ") {
				t.Fatalf("err = %v, want the deadline", err)
			}
			if d := time.Since(began); d > time.Second {
				t.Fatalf("returned after %v", d)
			}
		})
	}
}
