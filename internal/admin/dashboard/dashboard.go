// Package dashboard serves the operator's live page on the admin listener.
// The page is embedded static files (no CDN: it works offline and on an
// air-gapped cluster) and carries no data itself; everything it shows comes
// from the admin API, which it calls with the admin token, so the page adds
// no second way in. It also serves the two read-only endpoints the page
// needs that no part of ficus had: capture figures per source, and the
// recent mismatch report.
package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ficus-migrate/ficus/capture/standby"
	"github.com/ficus-migrate/ficus/shadow/report"
	"github.com/ficus-migrate/ficus/shadow/traffic/recording"
)

//go:embed static
var static embed.FS

// Source is a configured capture source.
type Source struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Config configures the dashboard.
type Config struct {
	// Gatherer holds the capture metrics the source figures are read from.
	Gatherer prometheus.Gatherer
	// Sources are the configured capture sources, Data the names of the
	// data comparisons (GET /api/data/{name}).
	Sources []Source
	Data    []string
	// Standby is this process's state in a source's hot standby, for
	// GET /api/capture/{source}; nil leaves it out.
	Standby func(source string) standby.State
	// Backfill returns a source's backfill queue, nil for a source without
	// backfill; nil Backfill: none has (POST .../backfill answers 501).
	Backfill func(source string) Backfiller
	// Failure returns the error that stopped a capture source, or nil
	// while it runs; nil Failure reports none.
	Failure func(source string) error
	// Report reads the shadow mismatches recorded since a time; nil when
	// nothing is recorded.
	Report func(ctx context.Context, since time.Time) (report.Report, error)
	// Recordings reads what FICUS_TRAFFIC holds per recorded route and the
	// last replay's summary; nil when no route records.
	Recordings func(ctx context.Context) ([]recording.RouteRecordings, error)
	// Logger [slog.Default()].
	Logger *slog.Logger
}

// Mux is where the dashboard mounts itself: the admin listener, whose
// Handle is behind the token and HandlePublic is not.
type Mux interface {
	Handle(pattern string, h http.Handler)
	HandlePublic(pattern string, h http.Handler)
}

// Dashboard serves the page and its endpoints.
type Dashboard struct {
	cfg Config
	log *slog.Logger
}

// New returns the dashboard.
func New(cfg Config) *Dashboard {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Sources == nil {
		cfg.Sources = []Source{}
	}
	if cfg.Data == nil {
		cfg.Data = []string{}
	}
	return &Dashboard{cfg: cfg, log: cfg.Logger.With("component", "dashboard")}
}

// Mount registers GET / and GET /ui/… (public: the page shell holds no
// data) and GET /api/dashboard, /api/capture, /api/capture/{source},
// /api/report, /api/recordings and POST /api/capture/{source}/backfill
// (behind the token and the admin listener's cross-site checks).
func (d *Dashboard) Mount(m Mux) {
	files, _ := fs.Sub(static, "static") // the embedded folder exists: it is compiled in
	fileServer := http.StripPrefix("/ui/", http.FileServerFS(files))
	m.HandlePublic("GET /ui/", noCache(fileServer))
	m.HandlePublic("GET /{$}", noCache(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, files, "index.html")
	})))
	m.Handle("GET /api/dashboard", http.HandlerFunc(d.overview))
	m.Handle("GET /api/capture", http.HandlerFunc(d.capture))
	m.Handle("GET /api/capture/{source}", http.HandlerFunc(d.captureSource))
	m.Handle("POST /api/capture/{source}/backfill", http.HandlerFunc(d.backfill))
	m.Handle("GET /api/report", http.HandlerFunc(d.report))
	m.Handle("GET /api/recordings", http.HandlerFunc(d.recordings))
}

// noCache keeps a browser from showing an older ficus's page after an
// upgrade.
func noCache(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

// overview says what there is to show.
func (d *Dashboard) overview(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Sources    []Source `json:"sources"`
		Data       []string `json:"data"`
		Recorded   bool     `json:"recorded"`
		Recordings bool     `json:"recordings"`
	}{d.cfg.Sources, d.cfg.Data, d.cfg.Report != nil, d.cfg.Recordings != nil})
}

// report answers GET /api/report?since=15m: the mismatch report of
// `ficus report --format json` over that window.
func (d *Dashboard) report(w http.ResponseWriter, r *http.Request) {
	if d.cfg.Report == nil {
		writeJSON(w, http.StatusOK, report.Report{Routes: []report.RouteReport{}})
		return
	}
	window := 15 * time.Minute
	if s := r.URL.Query().Get("since"); s != "" {
		v, err := time.ParseDuration(s)
		if err != nil || v <= 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "since: want a positive duration like 15m, got " + strconv.Quote(s)})
			return
		}
		window = v
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	rep, err := d.cfg.Report(ctx, time.Now().Add(-window))
	if err != nil {
		d.log.Warn("mismatch report failed", "err", err)
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "read FICUS_SHADOW: " + err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// recordings answers GET /api/recordings: per recorded route, the count,
// estimated size and oldest of its exchanges on FICUS_TRAFFIC, and the
// summary of its last replay.
func (d *Dashboard) recordings(w http.ResponseWriter, r *http.Request) {
	if d.cfg.Recordings == nil {
		writeJSON(w, http.StatusOK, []recording.RouteRecordings{})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	figs, err := d.cfg.Recordings(ctx)
	if err != nil {
		d.log.Warn("recordings failed", "err", err)
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "read FICUS_TRAFFIC: " + err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, figs)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
