// Package proxy is the strangler reverse proxy: it routes each request to
// the legacy or the new upstream according to a route.Table that can be
// swapped at runtime without dropping requests.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ficus-migrate/ficus/proxy/route"
	"github.com/ficus-migrate/ficus/proxy/rules"
	"github.com/ficus-migrate/ficus/proxy/serve"
	"github.com/ficus-migrate/ficus/proxy/upstream"
)

// Config configures a reverse-mode Proxy.
type Config struct {
	// Listen is the host:port to serve on (required by Run).
	Listen string
	// Legacy is the base URL of the legacy application (required).
	Legacy *url.URL
	// ServedByHeader adds Ficus-Served-By and Ficus-Route to responses.
	ServedByHeader bool
	// MaxHeaderBytes limits request header size [1 MiB].
	MaxHeaderBytes int
	// ReadHeaderTimeout bounds reading a client's request headers [10s].
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes idle client keep-alive connections [75s].
	IdleTimeout time.Duration
	// ClientBodyTimeout bounds each wait for more of a client's request
	// body (between two reads, as nginx's client_body_timeout) [60s]; a
	// client that stalls longer is answered 408.
	ClientBodyTimeout time.Duration
	// MaxRequestBodyBytes caps a request body; a larger one is answered
	// 413 [0: no limit].
	MaxRequestBodyBytes int64
	// RequestBufferBytes is how much of a request body is read, and its
	// framing checked, before the upstream is contacted [64 KiB]: a body
	// that fits never reaches an upstream unless it arrived whole and well
	// framed. A larger body is streamed after its first RequestBufferBytes.
	RequestBufferBytes int64
	// MaxResponseHeaderBytes caps an upstream's response head [1 MiB].
	MaxResponseHeaderBytes int64
	// ShutdownTimeout bounds the graceful drain in Run [10s].
	ShutdownTimeout time.Duration
	// Timeouts for the legacy side and defaults for routes' new sides;
	// zero fields take upstream.DefaultTimeouts().
	Timeouts upstream.Timeouts
	// Routes in match order.
	Routes []route.Spec
	// MaxIdleConnsPerHost is the keep-alive pool size per upstream [1024].
	MaxIdleConnsPerHost int
	// Hook optionally wraps every upstream round trip (shadow traffic);
	// see upstream.Scoped and upstream.Tapper for keeping the fast path.
	Hook upstream.Hook
	// Logger [slog.Default()].
	Logger *slog.Logger
	// Registerer receives the proxy metrics [a private registry].
	Registerer prometheus.Registerer
}

// Proxy is a reverse-mode strangler proxy. It is an http.Handler.
type Proxy struct {
	cfg      Config
	log      *slog.Logger
	errorLog *log.Logger
	metrics  *metrics
	pool     *upstream.Pool
	buffers  *bufferPool

	state atomic.Pointer[state]

	mu    sync.Mutex // serialises table changes; readers never lock
	stats map[string]*routeStats

	srv *serve.Server
}

// state is everything a request needs, swapped as one unit.
type state struct {
	table    *route.Table
	handlers [][2]*sideHandler // by route index, then side
	fallback *sideHandler      // unmatched requests -> legacy
}

// New validates cfg and compiles its routes.
func New(cfg Config) (*Proxy, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = http.DefaultMaxHeaderBytes
	}
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = 10 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 75 * time.Second
	}
	if cfg.ClientBodyTimeout <= 0 {
		cfg.ClientBodyTimeout = 60 * time.Second
	}
	if cfg.RequestBufferBytes <= 0 {
		cfg.RequestBufferBytes = 64 << 10
	}
	if cfg.MaxResponseHeaderBytes <= 0 {
		cfg.MaxResponseHeaderBytes = upstream.DefaultMaxResponseHeaderBytes
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if err := cfg.Timeouts.Validate(); err != nil {
		return nil, fmt.Errorf("proxy config: %w", err)
	}
	cfg.Timeouts = cfg.Timeouts.Merge(upstream.DefaultTimeouts())
	if err := checkLegacy(cfg.Legacy); err != nil {
		return nil, fmt.Errorf("proxy config: %w", err)
	}
	l := cfg.Logger.With("component", "proxy")
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	p := &Proxy{
		cfg:      cfg,
		log:      l,
		errorLog: slog.NewLogLogger(l.Handler(), slog.LevelWarn),
		metrics:  m,
		pool: upstream.NewPool(upstream.Config{MaxIdleConnsPerHost: cfg.MaxIdleConnsPerHost, Hook: cfg.Hook,
			Logger: cfg.Logger, MaxResponseHeaderBytes: cfg.MaxResponseHeaderBytes,
			OnDiscard: m.countDiscard}),
		buffers: &bufferPool{},
		stats:   make(map[string]*routeStats),
		srv:     serve.New(),
	}
	if err := p.SetRoutes(cfg.Routes); err != nil {
		return nil, err
	}
	return p, nil
}

func checkLegacy(u *url.URL) error {
	switch {
	case u == nil:
		return errors.New("legacy URL is required")
	case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return errors.New("legacy URL must be absolute http(s)://host[:port][/path]")
	case u.User != nil:
		return errors.New("legacy URL must not contain user info")
	case u.RawQuery != "" || u.Fragment != "":
		return errors.New("legacy URL must not contain a query or fragment")
	}
	return nil
}

// SetRoutes compiles specs and atomically replaces the route table. On error
// the current table stays in place. Per-route counters are kept by name.
func (p *Proxy) SetRoutes(specs []route.Spec) error {
	tab, err := route.Compile(specs)
	if err != nil {
		return fmt.Errorf("set routes: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	legacyT := p.cfg.Timeouts
	st := &state{table: tab, handlers: make([][2]*sideHandler, len(tab.Routes()))}
	uses := []upstream.Use{{URL: p.cfg.Legacy, Timeouts: legacyT}}
	st.fallback = p.newSideHandler(route.DefaultName, route.Legacy, p.cfg.Legacy, legacyT, nil,
		&p.statsFor(route.DefaultName).sides[0])
	for i, rt := range tab.Routes() {
		name := rt.Name()
		rs := p.statsFor(name)
		st.handlers[i][route.Legacy] = p.newSideHandler(name, route.Legacy, p.cfg.Legacy, legacyT, nil,
			&rs.sides[route.Legacy])
		newT := rt.Timeouts().Merge(p.cfg.Timeouts)
		var rewrite *route.Route
		if s := rt.Spec(); s.StripPrefix != "" || s.AddPrefix != "" {
			rewrite = rt
		}
		st.handlers[i][route.New] = p.newSideHandler(name, route.New, rt.NewURL(), newT, rewrite,
			&rs.sides[route.New])
		uses = append(uses, upstream.Use{URL: rt.NewURL(), Timeouts: newT})
	}
	p.state.Store(st)
	p.pool.Retain(uses)
	p.log.Info("route table installed", "routes", len(tab.Routes()))
	return nil
}

// statsFor must be called with p.mu held.
func (p *Proxy) statsFor(name string) *routeStats {
	rs, ok := p.stats[name]
	if !ok {
		rs = &routeStats{}
		p.stats[name] = rs
	}
	return rs
}

// SetWeight atomically changes one route's weight.
func (p *Proxy) SetWeight(name string, w float64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	cur := p.state.Load()
	tab, err := cur.table.WithWeight(name, w)
	if err != nil {
		return err
	}
	// Handlers do not depend on weights, so they are shared with the old state.
	p.state.Store(&state{table: tab, handlers: cur.handlers, fallback: cur.fallback})
	p.log.Info("route weight changed", "route", name, "weight", w)
	return nil
}

// Table returns the current route table (immutable).
func (p *Proxy) Table() *route.Table { return p.state.Load().table }

// ServeHTTP routes and proxies one request. The request rules (package
// rules, body.go, serve.FramingConflict) run here, once, before either the
// fast path or the ReverseProxy path sees the request.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Method == http.MethodConnect || r.URL.Path == "" || r.URL.Path[0] != '/' {
		// CONNECT and "OPTIONS *" are forward-proxy/server-wide forms that
		// have no meaning for a path-routed reverse proxy.
		hdr := w.Header()
		hdr["Content-Type"] = jsonContentType
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(malformedBody)
		return
	}
	rules.StripFicusHeaders(r.Header)
	if err := rules.CleanPath(r.URL); err != nil {
		p.clientError(w, route.DefaultName, &clientFault{http.StatusBadRequest, reasonBadPath, err.Error()})
		return
	}
	if r.URL.RawQuery != "" {
		r.URL.RawQuery = rules.CleanQuery(r.URL.RawQuery)
	}
	st := p.state.Load()
	d := st.table.Route(r)
	h := st.fallback
	if d.Route != nil {
		h = st.handlers[d.Route.Index()][d.Side]
	}
	if err := serve.FramingConflict(r); err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, serve.ErrHeadUnverifiable) {
			code = http.StatusRequestHeaderFieldsTooLarge
		}
		p.clientError(w, h.routeName, &clientFault{code, reasonFraming, err.Error()})
		return
	}
	streamed, f := p.readBody(w, r)
	if f != nil {
		p.clientError(w, h.routeName, f)
		return
	}
	defer h.observe(start)
	if h.conns != nil && fastEligible(r) {
		h.serveFast(w, r)
		return
	}
	if r.Header["Upgrade"] != nil {
		// ReverseProxy writes a 101 itself on the hijacked connection, with
		// the header map as it stands, never through WriteHeader.
		h.finalHeaders(w.Header())
	}
	h.rp.ServeHTTP(&finalWriter{ResponseWriter: w, h: h, body: streamed}, r)
}

var malformedBody = []byte(`{"error":"malformed request"}` + "\n")

// Ready is closed once Run is listening; Addr is valid from then on.
func (p *Proxy) Ready() <-chan struct{} { return p.srv.Ready() }

// Addr returns the bound listen address, or nil before Run listens.
func (p *Proxy) Addr() net.Addr { return p.srv.Addr() }

// Run listens on cfg.Listen and serves until ctx is done, then drains
// in-flight requests for up to ShutdownTimeout. It may be called once.
func (p *Proxy) Run(ctx context.Context) error {
	err := p.srv.Run(ctx, serve.Config{
		Name:              "proxy",
		Listen:            p.cfg.Listen,
		MaxHeaderBytes:    p.cfg.MaxHeaderBytes,
		ReadHeaderTimeout: p.cfg.ReadHeaderTimeout,
		IdleTimeout:       p.cfg.IdleTimeout,
		ShutdownTimeout:   p.cfg.ShutdownTimeout,
		RecordHeads:       true,
		ErrorLog:          p.errorLog,
		Logger:            p.log,
	}, p, "legacy", p.cfg.Legacy.Redacted())
	p.pool.CloseIdleConnections()
	p.log.Info("proxy stopped")
	return err
}
