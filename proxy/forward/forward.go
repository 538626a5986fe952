// Package forward is the strangler proxy's forward mode: the legacy
// application points HTTP_PROXY (and HTTPS_PROXY) at ficus, plain HTTP
// requests are routed by host through the same route table as reverse mode,
// and CONNECT tunnels pass through untouched unless their host is listed for
// interception, in which case the TLS session is terminated with a leaf
// minted from the operator's CA, routed, and re-encrypted upstream.
package forward

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elazarl/goproxy"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ficus-migrate/ficus/proxy/route"
	"github.com/ficus-migrate/ficus/proxy/serve"
	"github.com/ficus-migrate/ficus/proxy/upstream"
)

// Config configures a forward-mode Proxy.
type Config struct {
	// Listen is the host:port to serve on (required by Run).
	Listen string
	// Routes in match order; match on Host to divert a destination.
	Routes []route.Spec
	// MITM, if non-nil, intercepts CONNECT tunnels to its Hosts.
	MITM *MITMConfig
	// Allow lists the destinations clients may ask for [any host, port 80
	// for plain HTTP, 443 for CONNECT]. Whatever it says, the proxy never
	// connects to a cloud metadata or unspecified address, nor to its own
	// or Self's listeners; to loopback and link-local addresses only when a
	// rule names them exactly (see permit). The addresses checked are the
	// ones dialled. Routes' new sides are the operator's own choice and are
	// not checked.
	Allow []AllowRule
	// Self are the listen addresses (host:port, as bound) of ficus's other
	// listeners: the admin API, the embedded NATS server. The proxy's own
	// listener is always included.
	Self []string
	// ServedByHeader adds Ficus-Served-By and Ficus-Route to responses.
	ServedByHeader bool
	// MaxConcurrent bounds requests in flight (until their response body is
	// relayed); beyond it clients get 503 [1024].
	MaxConcurrent int
	// MaxTunnels bounds open untouched CONNECT tunnels; beyond it CONNECT
	// gets 503 [1024].
	MaxTunnels int
	// MaxConnsPerHost bounds upstream connections per destination
	// [MaxConcurrent].
	MaxConnsPerHost int
	// MaxIdleConnsPerHost is the keep-alive pool size per destination [64].
	MaxIdleConnsPerHost int
	// UpstreamCAs are trusted for upstream TLS in addition to the system
	// roots (tests, private CAs).
	UpstreamCAs *x509.CertPool
	// Timeouts for original destinations, CONNECT dials and defaults for
	// routes' new sides; zero fields take upstream.DefaultTimeouts().
	Timeouts upstream.Timeouts
	// MaxHeaderBytes limits request header size [1 MiB].
	MaxHeaderBytes int
	// ReadHeaderTimeout bounds reading a client's request headers [10s].
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes idle client keep-alive connections [120s].
	IdleTimeout time.Duration
	// ShutdownTimeout bounds the graceful drain in Run [10s].
	ShutdownTimeout time.Duration
	// Logger [slog.Default()].
	Logger *slog.Logger
	// Registerer receives the metrics [a private registry].
	Registerer prometheus.Registerer

	// Tests: lookupIP replaces the resolver, onDial sees (and may veto)
	// every upstream dial.
	lookupIP func(ctx context.Context, host string) ([]netip.Addr, error)
	onDial   func(addr string) error
}

// Proxy is a forward-mode strangler proxy. It is an http.Handler, but
// CONNECT needs a server that supports hijacking; Run provides one.
type Proxy struct {
	cfg     Config
	log     *slog.Logger
	m       *metrics
	gp      *goproxy.ProxyHttpServer
	tr      *transports
	guard   *guard
	mitm    *mitm // nil: every CONNECT is tunnelled
	sem     chan struct{}
	tunnels chan struct{}
	conns   *connSet

	table atomic.Pointer[route.Table]
	mu    sync.Mutex // serialises table changes; readers never lock

	srv *serve.Server
}

// New validates cfg, loads the MITM CA if configured and compiles routes.
func New(cfg Config) (*Proxy, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = 1024
	}
	if cfg.MaxTunnels <= 0 {
		cfg.MaxTunnels = 1024
	}
	if cfg.MaxConnsPerHost <= 0 {
		cfg.MaxConnsPerHost = cfg.MaxConcurrent
	}
	if cfg.MaxIdleConnsPerHost <= 0 {
		cfg.MaxIdleConnsPerHost = 64
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = http.DefaultMaxHeaderBytes
	}
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = 10 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 120 * time.Second
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if err := cfg.Timeouts.Validate(); err != nil {
		return nil, fmt.Errorf("forward proxy config: %w", err)
	}
	cfg.Timeouts = cfg.Timeouts.Merge(upstream.DefaultTimeouts())
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	g, err := newGuard(cfg, m)
	if err != nil {
		return nil, fmt.Errorf("forward proxy config: %w", err)
	}
	p := &Proxy{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "proxy.forward"),
		m:       m,
		guard:   g,
		tr:      newTransports(cfg.UpstreamCAs, cfg.MaxConnsPerHost, cfg.MaxIdleConnsPerHost, g),
		sem:     make(chan struct{}, cfg.MaxConcurrent),
		tunnels: make(chan struct{}, cfg.MaxTunnels),
		conns:   &connSet{conns: make(map[*trackedConn]struct{})},
		srv:     serve.New(),
	}
	g.bound = p.srv.Addr
	if cfg.MITM != nil {
		if p.mitm, err = newMITM(*cfg.MITM, m.certsMade.Inc); err != nil {
			return nil, fmt.Errorf("forward proxy config: %w", err)
		}
	}
	if err := p.SetRoutes(cfg.Routes); err != nil {
		return nil, err
	}
	p.gp = p.newGoproxy()
	return p, nil
}

func (p *Proxy) newGoproxy() *goproxy.ProxyHttpServer {
	gp := goproxy.NewProxyHttpServer()
	gp.Logger = goproxyLogger{p.log}
	// The defaults skip upstream TLS verification and honour $HTTPS_PROXY:
	// replace both. Tr is only a fallback; every request gets roundTripper.
	gp.Tr = p.tr.get(p.cfg.Timeouts, false)
	gp.ConnectDial = nil
	gp.ConnectDialWithReq = p.dialTunnel
	gp.ConnectionErrHandler = p.connectError
	// Header hygiene (hop-by-hop, Accept-Encoding passthrough) is done in
	// roundTripper, identically for plain and intercepted requests.
	gp.KeepHeader = true
	gp.KeepAcceptEncoding = true
	gp.NonproxyHandler = http.HandlerFunc(notProxy)
	rt := roundTripper{p}
	gp.OnRequest().DoFunc(func(req *http.Request, ctx *goproxy.ProxyCtx) (*http.Request, *http.Response) {
		ctx.RoundTripper = rt
		return req, nil
	})
	// Always return an explicit action: goproxy's fallback (OkConnect) and
	// its MitmConnect carry the bundled, publicly known CA.
	gp.OnRequest().HandleConnectFunc(func(host string, ctx *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
		// Refused before any dial; an intercepted tunnel's requests are
		// checked again one by one (their Host may name another target).
		if d := p.guard.checkConnect(host); d != nil {
			p.logDenied(d)
			ctx.Resp = deniedResponse(ctx.Req, d)
			return &goproxy.ConnectAction{Action: goproxy.ConnectReject}, host
		}
		if p.mitm != nil && p.mitm.intercepts(host) {
			p.m.connects.WithLabelValues("mitm").Inc()
			return &goproxy.ConnectAction{Action: goproxy.ConnectMitm, TLSConfig: p.mitm.tlsConfig}, host
		}
		p.m.connects.WithLabelValues("tunnel").Inc()
		return &goproxy.ConnectAction{Action: goproxy.ConnectAccept}, host
	})
	return gp
}

func newGuard(cfg Config, m *metrics) (*guard, error) {
	rules, err := parseAllow(cfg.Allow)
	if err != nil {
		return nil, err
	}
	g := &guard{rules: rules, lookup: cfg.lookupIP, onDial: cfg.onDial, denied: m.denied}
	if g.lookup == nil {
		g.lookup = defaultLookup
	}
	self := cfg.Self
	if cfg.Listen != "" {
		self = append(slices.Clone(self), cfg.Listen)
	}
	if g.self, err = parseSelf(self, g.lookup); err != nil {
		return nil, err
	}
	return g, nil
}

func (p *Proxy) logDenied(d *denial) {
	p.log.Info("destination refused", "target", d.target, "reason", d.reason)
}

func notProxy(w http.ResponseWriter, _ *http.Request) {
	w.Header()["Content-Type"] = []string{"application/json"}
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write(notProxyBody)
}

// goproxyLogger routes goproxy's printf logging (warnings only; Verbose is
// off) into slog.
type goproxyLogger struct{ l *slog.Logger }

func (g goproxyLogger) Printf(format string, v ...any) {
	g.l.Warn(strings.TrimSpace(fmt.Sprintf(format, v...)), "source", "goproxy")
}

// SetRoutes compiles specs and atomically replaces the route table; on
// error the current table stays in place.
func (p *Proxy) SetRoutes(specs []route.Spec) error {
	tab, err := route.Compile(specs)
	if err != nil {
		return fmt.Errorf("set routes: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.table.Store(tab)
	p.log.Info("route table installed", "routes", len(tab.Routes()))
	return nil
}

// SetWeight atomically changes one route's weight.
func (p *Proxy) SetWeight(name string, w float64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	tab, err := p.table.Load().WithWeight(name, w)
	if err != nil {
		return err
	}
	p.table.Store(tab)
	p.log.Info("route weight changed", "route", name, "weight", w)
	return nil
}

// Table returns the current route table (immutable).
func (p *Proxy) Table() *route.Table { return p.table.Load() }

// ServeHTTP proxies one request (absolute-form or CONNECT).
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.gp.ServeHTTP(w, r) }

// Ready is closed once Run is listening; Addr is valid from then on.
func (p *Proxy) Ready() <-chan struct{} { return p.srv.Ready() }

// Addr returns the bound listen address, or nil before Run listens.
func (p *Proxy) Addr() net.Addr { return p.srv.Addr() }

// Run listens on cfg.Listen and serves until ctx is done, then drains
// in-flight requests for up to ShutdownTimeout and closes tunnels and
// intercepted sessions. It may be called once.
func (p *Proxy) Run(ctx context.Context) error {
	err := p.srv.Run(ctx, serve.Config{
		Name:              "forward proxy",
		Listen:            p.cfg.Listen,
		MaxHeaderBytes:    p.cfg.MaxHeaderBytes,
		ReadHeaderTimeout: p.cfg.ReadHeaderTimeout,
		IdleTimeout:       p.cfg.IdleTimeout,
		ShutdownTimeout:   p.cfg.ShutdownTimeout,
		ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelWarn),
		Logger:            p.log,
		WrapListener:      func(ln net.Listener) net.Listener { return trackingListener{Listener: ln, set: p.conns} },
	}, p, "mitm", p.mitm != nil)
	// Tunnels have no request boundary to drain at; cut them.
	if n := p.conns.closeAll(); n > 0 {
		p.log.Info("closed hijacked connections", "count", n)
	}
	p.tr.closeIdle()
	p.log.Info("forward proxy stopped")
	return err
}
