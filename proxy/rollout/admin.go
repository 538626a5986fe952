package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	rs "github.com/ficus-migrate/ficus/proxy/routestate"
)

// AdminConfig configures the operator API.
type AdminConfig struct {
	Store *rs.Store
	// Routes are the routes this process knows; Plans those with a rollout.
	Routes []string
	Plans  map[string]Plan
	Events Publisher
	// Instance names this process in states and events.
	Instance string
	Logger   *slog.Logger
	// Notify receives every operator action this process applies [none].
	Notify Notifier
	// Gates supplies the routes' latest rollout.gates results [none].
	Gates *GateBoard
}

// Admin serves the operator actions. Every action writes the bucket, so it
// reaches every process; it does no authentication (the admin listener does).
type Admin struct {
	cfg   AdminConfig
	log   *slog.Logger
	known map[string]bool
}

// NewAdmin returns the operator API.
func NewAdmin(cfg AdminConfig) *Admin {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &Admin{cfg: cfg, log: cfg.Logger.With("component", "rollout"), known: map[string]bool{}}
	for _, r := range cfg.Routes {
		a.known[r] = true
	}
	return a
}

// Handler serves PUT /api/routes/{name} ({"weight": N}),
// POST /api/routes/{name}/{action} (promote, rollback, pause, resume, and
// approve for a route waiting at a step of approve_at: 409 otherwise) and
// GET /api/rollout (every route's shared state and lease holder).
func (a *Admin) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /api/routes/{name}", a.put)
	mux.HandleFunc("POST /api/routes/{name}/{action}", a.post)
	mux.HandleFunc("GET /api/rollout", a.list)
	return mux
}

// StateView is one route as GET /api/rollout and the actions answer it.
type StateView struct {
	Name  string `json:"name"`
	Plan  *Plan  `json:"rollout,omitempty"`
	Lease string `json:"lease_holder,omitempty"`
	rs.State
	// Gates are the rollout.gates results of the route's last published
	// decision (or change in what its gates say), at GatesAt.
	Gates   []GateResult `json:"gates,omitempty"`
	GatesAt time.Time    `json:"gates_at,omitzero"`
}

type apiError struct {
	Error string `json:"error"`
	Route string `json:"route,omitempty"`
}

func (a *Admin) put(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	var body struct {
		Weight *float64 `json:"weight"`
	}
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
	a.act(w, r.Context(), name, ActSet, *body.Weight)
}

func (a *Admin) post(w http.ResponseWriter, r *http.Request) {
	a.act(w, r.Context(), r.PathValue("name"), r.PathValue("action"), 0)
}

func (a *Admin) act(w http.ResponseWriter, ctx context.Context, name, act string, weight float64) {
	if !a.known[name] {
		writeJSON(w, http.StatusNotFound, apiError{Error: "unknown route", Route: name})
		return
	}
	var plan *Plan
	if p, ok := a.cfg.Plans[name]; ok {
		plan = &p
	}
	var before rs.State
	var actErr error
	st, err := a.cfg.Store.Update(ctx, name, func(cur rs.State) (rs.State, error) {
		before = cur
		next, err := manual(act, cur, plan, weight, time.Now().UTC(), a.cfg.Instance)
		actErr = err
		return next, err
	})
	switch {
	case errors.Is(actErr, ErrNoPlan), errors.Is(actErr, ErrConflict):
		writeJSON(w, http.StatusConflict, apiError{Error: actErr.Error(), Route: name})
		return
	case actErr != nil:
		writeJSON(w, http.StatusBadRequest, apiError{Error: actErr.Error(), Route: name})
		return
	case errors.Is(err, jetstream.ErrKeyNotFound):
		writeJSON(w, http.StatusNotFound, apiError{Error: "route not in the bucket", Route: name})
		return
	case err != nil:
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: err.Error(), Route: name})
		return
	}
	emit(a.cfg.Events, a.cfg.Notify, a.log, Event{Route: name, Action: act, From: before.Weight, To: st.Weight, Step: st.Step,
		Phase: st.Phase, Manual: st.Manual, Reason: st.Reason, By: a.cfg.Instance, At: st.At})
	writeJSON(w, http.StatusOK, StateView{Name: name, Plan: plan, State: st})
}

func (a *Admin) list(w http.ResponseWriter, r *http.Request) {
	states, err := a.cfg.Store.List(r.Context())
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: err.Error()})
		return
	}
	out := make([]StateView, 0, len(states))
	for name, st := range states {
		v := StateView{Name: name, State: st, Lease: a.cfg.Store.LeaseHolder(r.Context(), name)}
		v.Gates, v.GatesAt = a.cfg.Gates.Latest(name)
		if p, ok := a.cfg.Plans[name]; ok {
			v.Plan = &p
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, http.StatusOK, out)
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
