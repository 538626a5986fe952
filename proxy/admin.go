package proxy

import (
	"encoding/json"
	"errors"
	"io"
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

// AdminHandler serves GET /api/routes and PUT /api/routes/{name}. It does
// no authentication: it is meant to be mounted behind the admin listener's.
func (p *Proxy) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/routes", p.handleListRoutes)
	mux.HandleFunc("PUT /api/routes/{name}", p.handlePutRoute)
	return mux
}

func (p *Proxy) handleListRoutes(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, p.Routes())
}

type putRouteBody struct {
	Weight *float64 `json:"weight"`
}

func (p *Proxy) handlePutRoute(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, ok := p.Table().Lookup(name); !ok {
		writeJSON(w, http.StatusNotFound, apiError{Error: "unknown route", Route: name})
		return
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	var body putRouteBody
	if err := dec.Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "bad body: " + err.Error(), Route: name})
		return
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "bad body: trailing data after JSON object", Route: name})
		return
	}
	if body.Weight == nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: `bad body: "weight" is required`, Route: name})
		return
	}
	if err := p.SetWeight(name, *body.Weight); err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, route.ErrUnknownRoute) { // removed concurrently
			code = http.StatusNotFound
		}
		writeJSON(w, code, apiError{Error: err.Error(), Route: name})
		return
	}
	rt, ok := p.Table().Lookup(name)
	if !ok {
		writeJSON(w, http.StatusNotFound, apiError{Error: "unknown route", Route: name})
		return
	}
	writeJSON(w, http.StatusOK, p.routeInfo(rt))
}

type apiError struct {
	Error string `json:"error"`
	Route string `json:"route,omitempty"`
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
