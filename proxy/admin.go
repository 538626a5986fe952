package proxy

import (
	"encoding/json"
	"net/http"

	"github.com/ficus-migrate/ficus/proxy/route"
)

// RouteInfo is one route as shown by the admin API.
type RouteInfo struct {
	Name        string     `json:"name"`
	Weight      float64    `json:"weight"`
	Sticky      string     `json:"sticky"`
	PinNew      []string   `json:"pin_new,omitempty"`
	New         string     `json:"new"`
	StripPrefix string     `json:"strip_prefix,omitempty"`
	AddPrefix   string     `json:"add_prefix,omitempty"`
	Match       MatchInfo  `json:"match"`
	Counts      RouteCount `json:"counts"`
}

// MatchInfo mirrors the route's match block.
type MatchInfo struct {
	PathPrefix string            `json:"path_prefix,omitempty"`
	Path       string            `json:"path,omitempty"`
	PathRegex  string            `json:"path_regex,omitempty"`
	Methods    []string          `json:"methods,omitempty"`
	Host       string            `json:"host,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
}

// RouteCount holds counters per side; they survive table swaps.
type RouteCount struct {
	Legacy SideCount `json:"legacy"`
	New    SideCount `json:"new"`
	// ClientErrors counts requests refused for the client's own fault
	// (answered 400/408/413 by ficus); no side is charged with them.
	ClientErrors uint64 `json:"client_errors"`
}

// SideCount counts requests, status classes and upstream errors of a side.
type SideCount struct {
	Requests       uint64            `json:"requests"`
	Status         map[string]uint64 `json:"status"`
	UpstreamErrors UpstreamErrors    `json:"upstream_errors"`
}

// UpstreamErrors splits upstream failures by kind.
type UpstreamErrors struct {
	Unreachable uint64 `json:"unreachable"`
	Timeout     uint64 `json:"timeout"`
}

// Routes returns the current routes with their counters, in match order.
func (p *Proxy) Routes() []RouteInfo {
	tab := p.Table()
	out := make([]RouteInfo, 0, len(tab.Routes()))
	for _, rt := range tab.Routes() {
		out = append(out, p.routeInfo(rt))
	}
	return out
}

func (p *Proxy) routeInfo(rt *route.Route) RouteInfo {
	s := rt.Spec()
	sticky := s.Sticky
	if sticky == "" {
		sticky = "none"
	}
	info := RouteInfo{
		Name: s.Name, Weight: s.Weight, Sticky: sticky, PinNew: s.PinNew, New: s.New.String(),
		StripPrefix: s.StripPrefix, AddPrefix: s.AddPrefix,
		Match: MatchInfo{PathPrefix: s.PathPrefix, Path: s.Path, PathRegex: s.PathRegex,
			Methods: s.Methods, Host: s.Host, Headers: s.Headers},
	}
	p.mu.Lock()
	rs := p.statsFor(s.Name)
	p.mu.Unlock()
	info.Counts.Legacy = sideCount(&rs.sides[route.Legacy])
	info.Counts.New = sideCount(&rs.sides[route.New])
	info.Counts.ClientErrors = rs.clientErrors.Load()
	return info
}

func sideCount(s *sideStats) SideCount {
	c := SideCount{
		Requests: s.requests.Load(),
		Status:   make(map[string]uint64, len(codeClasses)),
		UpstreamErrors: UpstreamErrors{
			Unreachable: s.unreachable.Load(),
			Timeout:     s.timeout.Load(),
		},
	}
	for i, name := range codeClasses {
		c.Status[name] = s.classes[i].Load()
	}
	return c
}

// AdminHandler serves GET /api/routes. It does no authentication: it is
// meant to be mounted behind the admin listener's. Weights are changed
// through the shared route state (proxy/rollout's PUT /api/routes/{name}),
// which calls SetWeight on every process.
func (p *Proxy) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/routes", p.handleListRoutes)
	return mux
}

func (p *Proxy) handleListRoutes(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, p.Routes())
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
