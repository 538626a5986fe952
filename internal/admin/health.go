package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ficus-migrate/ficus/internal/admin/api"
)

// Readiness is by part. Checks (AddCheck) are the request path's — the
// listener is up, the route table is loaded — and alone decide /readyz,
// the probe that puts a pod in or out of its Service. Components
// (AddComponent) are everything the request path does not wait on — NATS,
// capture, shadow recording, the rollout controller: they report their own
// state on /readyz?verbose, /api/health and ficus_component_up, and a
// component that is down makes the process "degraded", never unready. A
// NATS outage must not take the legacy app out of its Service.

// AddComponent registers a part outside the request path under name; nil
// from c means up, an error is the reason it is degraded.
func (s *Server) AddComponent(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.components[name] = c
}

func runAll(ctx context.Context, m map[string]Check) ([]string, map[string]error) {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	errs := make(map[string]error, len(m))
	for _, n := range names {
		errs[n] = m[n](ctx)
	}
	return names, errs
}

func (s *Server) snapshot() (checks, components map[string]Check) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	checks = make(map[string]Check, len(s.checks))
	for n, c := range s.checks {
		checks[n] = c
	}
	components = make(map[string]Check, len(s.components))
	for n, c := range s.components {
		components[n] = c
	}
	return checks, components
}

// evaluate runs every check and component.
func (s *Server) evaluate(ctx context.Context) api.Health {
	checks, comps := s.snapshot()
	h := api.Health{Ready: true, Status: api.StatusOK, Checks: []api.CheckResult{}, Components: []api.ComponentResult{}}
	names, errs := runAll(ctx, checks)
	for _, n := range names {
		r := api.CheckResult{Name: n, Ready: true}
		if err := errs[n]; err != nil {
			r.Ready, r.Error, h.Ready = false, err.Error(), false
		}
		h.Checks = append(h.Checks, r)
	}
	names, errs = runAll(ctx, comps)
	for _, n := range names {
		r := api.ComponentResult{Name: n, Status: api.ComponentUp}
		if err := errs[n]; err != nil {
			r.Status, r.Reason = api.ComponentDegraded, err.Error()
			h.Status = api.StatusDegraded
		}
		h.Components = append(h.Components, r)
	}
	if !h.Ready {
		h.Status = api.StatusNotReady
	}
	return h
}

// readyz answers the request path's readiness. The verdict is for anyone
// (kubelet cannot send a Secret); which check fails and, with ?verbose,
// the components' state are for the token holder.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	h := s.evaluate(ctx)
	body := api.Readiness{Ready: h.Ready}
	if s.cfg.Token == "" || s.authorized(r) {
		body.Checks = h.Checks
		if r.URL.Query().Has("verbose") {
			body.Status, body.Components = h.Status, h.Components
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if !h.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(body)
}

// apiHealth is GET /api/health: always 200 when the listener answers, the
// state is in the body.
func (s *Server) apiHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(s.evaluate(ctx))
}

// componentCollector exports ficus_component_up{component}: 1 when a
// check passes or a component is up, else 0. Checks are included (the
// proxy is a component of the process too), evaluated at scrape time.
type componentCollector struct {
	s    *Server
	desc *prometheus.Desc
}

func newComponentCollector(s *Server) *componentCollector {
	return &componentCollector{s: s, desc: prometheus.NewDesc("ficus_component_up",
		"1 when the part of ficus is up, 0 when it is degraded (see /api/health for why); "+
			"only the request path's parts decide /readyz.", []string{"component"}, nil)}
}

func (c *componentCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *componentCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	h := c.s.evaluate(ctx)
	for _, r := range h.Checks {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, map[bool]float64{true: 1}[r.Ready], r.Name)
	}
	for _, r := range h.Components {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, map[bool]float64{true: 1}[r.Status == api.ComponentUp], r.Name)
	}
}
