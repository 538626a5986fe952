package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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

// checkResult is one check's or component's verdict.
type checkResult struct {
	Name  string `json:"name"`
	Ready bool   `json:"ready"`
	Error string `json:"error,omitempty"`
}

// componentResult is one component's state: "up" or "degraded".
type componentResult struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// health is the whole picture: the request path's verdict and the state
// of every component.
type health struct {
	Ready bool `json:"ready"`
	// Status is "ok", "degraded" (ready, some component down) or "not_ready".
	Status     string            `json:"status"`
	Checks     []checkResult     `json:"checks"`
	Components []componentResult `json:"components"`
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
func (s *Server) evaluate(ctx context.Context) health {
	checks, comps := s.snapshot()
	h := health{Ready: true, Status: "ok", Checks: []checkResult{}, Components: []componentResult{}}
	names, errs := runAll(ctx, checks)
	for _, n := range names {
		r := checkResult{Name: n, Ready: true}
		if err := errs[n]; err != nil {
			r.Ready, r.Error, h.Ready = false, err.Error(), false
		}
		h.Checks = append(h.Checks, r)
	}
	names, errs = runAll(ctx, comps)
	for _, n := range names {
		r := componentResult{Name: n, Status: "up"}
		if err := errs[n]; err != nil {
			r.Status, r.Reason = "degraded", err.Error()
			h.Status = "degraded"
		}
		h.Components = append(h.Components, r)
	}
	if !h.Ready {
		h.Status = "not_ready"
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
	body := struct {
		Ready      bool              `json:"ready"`
		Status     string            `json:"status,omitempty"`
		Checks     []checkResult     `json:"checks,omitempty"`
		Components []componentResult `json:"components,omitempty"`
	}{Ready: h.Ready}
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
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, map[bool]float64{true: 1}[r.Status == "up"], r.Name)
	}
}
