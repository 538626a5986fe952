// Package admin is ficus's operator listener: health and readiness probes,
// Prometheus metrics, and the admin API handlers other parts mount on it.
package admin

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ficus-migrate/ficus/internal/metrics"
)

// Config configures the admin listener.
type Config struct {
	// Listen is host:port; port 0 picks a free one (see Addr).
	Listen string
	// Token, when set, is required as "Authorization: Bearer <token>" on every
	// path but /healthz, /readyz (whose details it unlocks) and the public
	// pages. Without it, requests that change something (any method but GET,
	// HEAD and OPTIONS) are refused unless the listener is loopback.
	Token string
	// AllowedHosts are the names (host, or host:port to pin the port) the
	// listener answers as besides its own address, localhost, 127.0.0.1 and
	// [::1]: the names of an ingress or a DNS alias. Any other Host header is
	// refused (see hosts.go).
	AllowedHosts []string
	// Gatherer serves /metrics.
	Gatherer prometheus.Gatherer
	// Registerer receives the admin listener's own metrics
	// (ficus_admin_refused_total); nil leaves them unregistered.
	Registerer prometheus.Registerer
	// Pprof mounts net/http/pprof under /debug/pprof/ (behind the token). Off by
	// default: profiles expose internals and cost CPU while taken.
	Pprof  bool
	Logger *slog.Logger
}

// Check reports whether one part of ficus is ready; nil means ready.
type Check func(ctx context.Context) error

// Server is the admin HTTP listener.
type Server struct {
	cfg    Config
	log    *slog.Logger
	mux    *http.ServeMux
	public *http.ServeMux // served without the token: pages that hold no data
	ln     net.Listener
	mu     sync.RWMutex
	checks map[string]Check // the request path's: they decide /readyz
	// components are the parts outside the request path (health.go).
	components map[string]Check

	hosts    *hosts
	loopback bool // bound to a loopback address only
	refused  *prometheus.CounterVec
}

// New binds the listener at once, so a taken port is reported before anything else starts.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:9901"
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("admin listener on %s (admin.listen): %w", cfg.Listen, err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "admin"), mux: http.NewServeMux(), public: http.NewServeMux(), ln: ln, checks: map[string]Check{}, components: map[string]Check{}}
	if s.hosts, err = newHosts(cfg.Listen, ln.Addr(), cfg.AllowedHosts); err != nil {
		return nil, errors.Join(err, ln.Close())
	}
	if s.refused, err = newRefusedCounter(cfg.Registerer); err != nil {
		return nil, errors.Join(err, ln.Close())
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok {
		s.loopback = tcp.IP.IsLoopback()
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.HandleFunc("GET /api/health", s.apiHealth)
	// The collector reads this server's components: one owner.
	r := metrics.NewRegistrar(cfg.Registerer)
	r.Own(newComponentCollector(s))
	if err := r.Err(); err != nil {
		return nil, errors.Join(err, ln.Close())
	}
	if cfg.Pprof {
		s.mux.HandleFunc("/debug/pprof/", pprof.Index)
		s.mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		s.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		s.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		s.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	if cfg.Gatherer != nil {
		s.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{ErrorLog: slogErrorLog{s.log}}))
	}
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Handle mounts an API handler (Go 1.22 ServeMux pattern), behind the token.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// HandlePublic mounts a handler that needs no token: only for what holds
// no data (the dashboard's page shell and assets; the page then calls the
// API with the token).
func (s *Server) HandlePublic(pattern string, h http.Handler) { s.public.Handle(pattern, h) }

// AddCheck registers a check of the request path under name; /readyz is
// 200 only when all pass. Parts the request path does not wait on are
// components (AddComponent).
func (s *Server) AddCheck(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = c
}

// ServeHTTP applies the Host, origin and token checks and dispatches. The
// checks of guard.go come before the token so that a cross-site request is
// told why it is refused without learning anything about the token.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f := s.check(r); f != nil {
		s.refuse(w, r, f)
		return
	}
	if h, pattern := s.public.Handler(r); pattern != "" {
		h.ServeHTTP(w, r)
		return
	}
	if s.cfg.Token != "" && r.URL.Path != "/healthz" && r.URL.Path != "/readyz" && !s.authorized(r) {
		s.refuse(w, r, &refusal{http.StatusUnauthorized, refusedToken, "missing or wrong admin token (Authorization: Bearer …)"})
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) authorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.Token)) == 1
}

// Run serves until ctx ends, then shuts down gracefully (in-flight requests get 5 s).
func (s *Server) Run(ctx context.Context) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(s.ln) }()
	s.log.Info("admin listener started", "addr", s.Addr(), "token_required", s.cfg.Token != "",
		"allowed_hosts", s.cfg.AllowedHosts)
	select {
	case err := <-errc:
		return fmt.Errorf("admin listener: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("admin listener shutdown: %w", err)
	}
	return nil
}

// Close releases the listener when Run was never called.
func (s *Server) Close() error { return s.ln.Close() }

type slogErrorLog struct{ log *slog.Logger }

func (l slogErrorLog) Println(v ...any) { l.log.Error(fmt.Sprint(v...)) }
