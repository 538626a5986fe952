// Package upstream builds the keep-alive transports that carry proxied
// requests to legacy and new backends. It is shared by the reverse proxy and
// the (later) forward proxy so both get identical pooling, timeouts and the
// same optional tap for shadow traffic.
package upstream

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Timeouts bound the phases of one upstream exchange. A zero field means
// "inherit" when merged with Defaults, and "no limit" once it reaches a
// transport (matching net/http semantics).
type Timeouts struct {
	// Connect bounds TCP (and TLS) connection establishment.
	Connect time.Duration
	// ResponseHeader bounds the wait for response headers after the request
	// was written. Bodies (SSE, downloads, WebSockets) are never time-limited.
	ResponseHeader time.Duration
	// Idle is how long a kept-alive connection may sit unused in the pool.
	Idle time.Duration
}

// DefaultTimeouts are the documented defaults for upstreams (connect 5s,
// response_header 30s, idle 90s).
func DefaultTimeouts() Timeouts {
	return Timeouts{Connect: 5 * time.Second, ResponseHeader: 30 * time.Second, Idle: 90 * time.Second}
}

// Merge returns t with zero fields taken from base.
func (t Timeouts) Merge(base Timeouts) Timeouts {
	if t.Connect == 0 {
		t.Connect = base.Connect
	}
	if t.ResponseHeader == 0 {
		t.ResponseHeader = base.ResponseHeader
	}
	if t.Idle == 0 {
		t.Idle = base.Idle
	}
	return t
}

// Validate rejects negative durations.
func (t Timeouts) Validate() error {
	if t.Connect < 0 || t.ResponseHeader < 0 || t.Idle < 0 {
		return fmt.Errorf("timeouts must not be negative (connect %s, response_header %s, idle %s)",
			t.Connect, t.ResponseHeader, t.Idle)
	}
	return nil
}

// Target identifies the upstream a request is being sent to; it is handed
// to a Hook so shadowing can tell routes and sides apart.
type Target struct {
	Route string // route name, "default" for unmatched requests
	Side  string // "legacy" or "new"
	URL   *url.URL
}

// Hook wraps a round trip, e.g. to tee bounded copies of request and
// response bodies for shadow comparison. It must call next exactly once and
// return its response (possibly with a wrapped Body). When no Hook is
// configured the transport calls the pooled http.Transport directly, so the
// feature costs nothing on the hot path when unused.
type Hook interface {
	RoundTrip(t Target, req *http.Request, next http.RoundTripper) (*http.Response, error)
}

// Scoped is implemented by a Hook that acts on some targets only (shadow
// traffic on the shadowed routes): the others bypass it entirely and keep
// the raw fast path.
type Scoped interface {
	Hooks(t Target) bool
}

// Tapper is implemented by a Hook that can also watch exchanges it does not
// drive, so hooked plain-http targets keep the raw fast path (see Conns).
// Watches decides, without allocating, whether the exchange of in (the
// client's request, read only) is to be watched; only then does the caller
// build the outgoing request and call Tap. Ownership of out and its Header
// passes to the Tapper; it must not read a body from it.
type Tapper interface {
	Hook
	Watches(t Target, in *http.Request) bool
	Tap(t Target, out *http.Request) Tap
}

// Tap watches one exchange driven by the caller. Response is called at most
// once, with the final response as received from upstream (the Tap may keep
// h: the caller no longer changes it); Write with each chunk of body as the
// client is sent it (p must not be kept); Done exactly once, complete
// reporting whether the client got the whole answer.
type Tap interface {
	Response(status int, h http.Header)
	Write(p []byte)
	Done(complete bool)
}

// Config configures a Pool.
type Config struct {
	// MaxIdleConnsPerHost is the keep-alive pool size per backend [1024].
	MaxIdleConnsPerHost int
	// Hook, if non-nil, wraps every round trip (of the targets it Hooks,
	// when it is Scoped).
	Hook Hook
	// Logger receives pool events [slog.Default()].
	Logger *slog.Logger
	// MaxResponseHeaderBytes caps the size of an upstream response head on
	// both the raw connections and the transports [1 MiB].
	MaxResponseHeaderBytes int64
	// TLSClientConfig is the base TLS configuration for https backends
	// [system roots, TLS 1.2 or later].
	TLSClientConfig *tls.Config
	// OnDiscard, if set, is told the reason (Discard*) whenever an idle
	// raw connection is closed instead of reused.
	OnDiscard func(reason string)
}

// Pool hands out one *http.Transport per (scheme, host, timeouts) so that
// route-table swaps reuse warm keep-alive connections instead of dropping them.
type Pool struct {
	cfg Config
	log *slog.Logger

	mu         sync.Mutex
	transports map[poolKey]*http.Transport
	conns      map[poolKey]*Conns
	rts        map[poolKey]*connRoundTripper
}

type poolKey struct {
	scheme, host string
	timeouts     Timeouts
}

// NewPool returns an empty pool.
func NewPool(cfg Config) *Pool {
	if cfg.MaxIdleConnsPerHost <= 0 {
		cfg.MaxIdleConnsPerHost = 1024
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxResponseHeaderBytes <= 0 {
		cfg.MaxResponseHeaderBytes = DefaultMaxResponseHeaderBytes
	}
	return &Pool{
		cfg:        cfg,
		log:        cfg.Logger.With("component", "proxy.upstream"),
		transports: make(map[poolKey]*http.Transport),
		conns:      make(map[poolKey]*Conns),
		rts:        make(map[poolKey]*connRoundTripper),
	}
}

// RoundTripper returns the round tripper for requests to target, creating a
// pooled transport on first use. The returned value is safe for concurrent
// use. Plain-http targets are served over the raw Conns (see
// connRoundTripper): the same connections and reuse rules as the fast path.
func (p *Pool) RoundTripper(target Target, t Timeouts) http.RoundTripper {
	k := poolKey{scheme: target.URL.Scheme, host: target.URL.Host, timeouts: t}
	var base http.RoundTripper = p.transport(k)
	if k.scheme == "http" || k.scheme == "https" {
		base = p.connRoundTripper(k, target, base)
	}
	if !p.Hooked(target) {
		return base
	}
	return &hooked{target: target, base: base, hook: p.cfg.Hook}
}

// Hooked reports whether requests to target must reach the Hook.
func (p *Pool) Hooked(target Target) bool {
	if p.cfg.Hook == nil {
		return false
	}
	s, ok := p.cfg.Hook.(Scoped)
	return !ok || s.Hooks(target)
}

// Tapper returns the Hook as a Tapper when target is hooked and the Hook
// can watch raw exchanges; callers of Conns must then use it.
func (p *Pool) Tapper(target Target) Tapper {
	if !p.Hooked(target) {
		return nil
	}
	tp, _ := p.cfg.Hook.(Tapper)
	return tp
}

// Conns returns the raw connection pool for a plain-http target, for the
// fast path, or nil when the caller must use RoundTripper instead: for
// https targets and when a Hook that is no Tapper must see every request. For a hooked target, Tapper is not nil and the caller
// must let it watch the exchanges.
func (p *Pool) Conns(target Target, t Timeouts) *Conns {
	if target.URL.Scheme != "http" || (p.Hooked(target) && p.Tapper(target) == nil) {
		return nil
	}
	return p.rawConns(poolKey{scheme: target.URL.Scheme, host: target.URL.Host, timeouts: t}, target)
}

func (p *Pool) connRoundTripper(k poolKey, target Target, fallback http.RoundTripper) *connRoundTripper {
	c := p.rawConns(k, target)
	p.mu.Lock()
	defer p.mu.Unlock()
	if rt, ok := p.rts[k]; ok && rt.conns == c {
		return rt
	}
	rt := &connRoundTripper{conns: c, fallback: fallback}
	p.rts[k] = rt
	return rt
}

func (p *Pool) rawConns(k poolKey, target Target) *Conns {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.conns[k]; ok {
		return c
	}
	cc := connsConfig{addr: k.host, timeouts: k.timeouts, max: p.cfg.MaxIdleConnsPerHost,
		maxHead: p.cfg.MaxResponseHeaderBytes, onDiscard: p.cfg.OnDiscard}
	port := "80"
	if k.scheme == "https" {
		port = "443"
		cc.tls = p.tlsConfig(target.URL.Hostname())
	}
	if target.URL.Port() == "" {
		cc.addr = net.JoinHostPort(target.URL.Hostname(), port)
	}
	c := newConns(cc)
	p.conns[k] = c
	return c
}

// Transport returns the bare pooled transport for a scheme/host pair; the
// forward proxy uses it for destinations not known in advance.
func (p *Pool) Transport(scheme, host string, t Timeouts) *http.Transport {
	return p.transport(poolKey{scheme: scheme, host: host, timeouts: t})
}

func (p *Pool) transport(k poolKey) *http.Transport {
	p.mu.Lock()
	defer p.mu.Unlock()
	if tr, ok := p.transports[k]; ok {
		return tr
	}
	tr := newTransport(k.timeouts, p.cfg.MaxIdleConnsPerHost, p.cfg.MaxResponseHeaderBytes, p.cfg.TLSClientConfig)
	p.transports[k] = tr
	p.log.Debug("new upstream transport", "scheme", k.scheme, "host", k.host)
	return tr
}

// Use names a backend and the timeouts it is reached with.
type Use struct {
	URL      *url.URL
	Timeouts Timeouts
}

// Retain drops (and closes idle connections of) every transport not named
// in keep. Called after a route-table swap so backends removed from the
// config do not keep sockets open.
func (p *Pool) Retain(keep []Use) {
	want := make(map[poolKey]struct{}, len(keep))
	for _, u := range keep {
		want[poolKey{scheme: u.URL.Scheme, host: u.URL.Host, timeouts: u.Timeouts}] = struct{}{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, tr := range p.transports {
		if _, ok := want[k]; !ok {
			tr.CloseIdleConnections()
			delete(p.transports, k)
		}
	}
	for k, c := range p.conns {
		if _, ok := want[k]; !ok {
			c.close()
			delete(p.conns, k)
			delete(p.rts, k)
		}
	}
}

// CloseIdleConnections closes idle connections of all pooled transports.
func (p *Pool) CloseIdleConnections() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, tr := range p.transports {
		tr.CloseIdleConnections()
	}
	for _, c := range p.conns {
		c.CloseIdle()
	}
}

// tlsConfig is the configuration of raw TLS connections to host: HTTP/1.1
// only, since the raw connections speak nothing else.
func (p *Pool) tlsConfig(host string) *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if p.cfg.TLSClientConfig != nil {
		c = p.cfg.TLSClientConfig.Clone()
	}
	if c.ServerName == "" {
		c.ServerName = host
	}
	c.NextProtos = []string{"http/1.1"}
	return c
}

// DefaultMaxResponseHeaderBytes is the default cap on an upstream response
// head (proxy.timeouts.upstream_response_header_bytes).
const DefaultMaxResponseHeaderBytes = 1 << 20

func newTransport(t Timeouts, perHost int, maxHead int64, tlsConf *tls.Config) *http.Transport {
	d := &net.Dialer{Timeout: t.Connect, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                  nil, // never chain through $HTTP_PROXY: we are the proxy
		DialContext:            d.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           0,
		MaxIdleConnsPerHost:    perHost,
		IdleConnTimeout:        t.Idle,
		ResponseHeaderTimeout:  t.ResponseHeader,
		TLSHandshakeTimeout:    t.Connect,
		ExpectContinueTimeout:  1 * time.Second,
		MaxResponseHeaderBytes: maxHead,
		TLSClientConfig:        tlsConf,
	}
}

type hooked struct {
	target Target
	base   http.RoundTripper
	hook   Hook
}

func (h *hooked) RoundTrip(req *http.Request) (*http.Response, error) {
	return h.hook.RoundTrip(h.target, req, h.base)
}
