package config

import "time"

// ProxyMode is "reverse" or "forward".
type ProxyMode string

// Proxy modes.
const (
	// ModeReverse: clients talk to ficus as if it were the legacy service;
	// ficus forwards to proxy.legacy or to a route's new upstream.
	ModeReverse ProxyMode = "reverse"
	// ModeForward: ficus is an HTTP(S) forward proxy (clients set
	// HTTP_PROXY); the original destination is the legacy side.
	ModeForward ProxyMode = "forward"
)

// DefaultProxyListen is proxy.listen when the proxy is enabled by its routes
// alone.
const DefaultProxyListen = "127.0.0.1:8080"

// Proxy configures the HTTP proxy.
type Proxy struct {
	// Listen is the host:port the proxy accepts client connections on.
	// Port 0 picks a free port. Default: 127.0.0.1:8080 when routes are
	// given, otherwise empty (proxy disabled).
	Listen string `yaml:"listen,omitempty"`
	// Mode is reverse or forward. Default: reverse.
	Mode ProxyMode `yaml:"mode"`
	// Legacy is the base URL of the legacy service, http(s)://host[:port][/path].
	// Required in reverse mode when the proxy is enabled; in forward mode the
	// client's original destination is the legacy side and Legacy is unused.
	Legacy string `yaml:"legacy,omitempty"`
	// ServedByHeader adds a response header naming the side (legacy or new)
	// that served each request. Default: true.
	ServedByHeader bool `yaml:"served_by_header"`
	// MaxHeaderBytes caps the size of request headers ficus accepts, in bytes
	// (an integer or a size such as "1MiB"). Default: 1048576.
	MaxHeaderBytes int64 `yaml:"max_header_bytes"`
	// Timeouts are the upstream timeouts used by every route that does not
	// override them, and the limits on clients.
	Timeouts ProxyTimeouts `yaml:"timeouts"`
	// MaxRequestBodyBytes caps a request body; a larger one is answered 413
	// (a size such as "10MiB"; -1: no limit). Default: -1.
	MaxRequestBodyBytes int64 `yaml:"max_request_body_bytes"`
	// RequestBufferBytes is how much of a request body ficus reads, and
	// checks, before contacting an upstream: a body up to this size reaches
	// the upstream only if it arrived whole and well framed. Larger bodies
	// are streamed after it. Default: 65536.
	RequestBufferBytes int64 `yaml:"request_buffer_bytes"`
	// MITM configures TLS interception of CONNECT tunnels; forward mode only.
	MITM MITM `yaml:"mitm,omitempty"`
	// Forward says which destinations forward mode lets clients reach;
	// forward mode only.
	Forward Forward `yaml:"forward,omitempty"`
	// Routes are tried in order; the first route whose match fits a request
	// decides where it goes. Requests matching no route go to the legacy side.
	Routes []Route `yaml:"routes,omitempty"`
}

// Enabled reports whether the proxy should run: it does when proxy.listen
// or at least one route is configured.
func (p Proxy) Enabled() bool { return p.Listen != "" || len(p.Routes) > 0 }

// Timeouts are upstream timeouts. Every value is a duration such as "5s"
// and must be greater than zero.
type Timeouts struct {
	// Connect bounds establishing a TCP (and TLS) connection upstream.
	// Default: 5s.
	Connect time.Duration `yaml:"connect"`
	// ResponseHeader bounds the wait for the upstream's response headers
	// after the request was written. Default: 30s.
	ResponseHeader time.Duration `yaml:"response_header"`
	// Idle is how long an idle keep-alive connection upstream is kept.
	// Default: 90s.
	Idle time.Duration `yaml:"idle"`
}

// ProxyTimeouts are proxy.timeouts: the upstream timeouts, and the client
// limits, which cannot be set per route (the route is not known while a
// head is read).
type ProxyTimeouts struct {
	Timeouts     `yaml:",inline"`
	ClientLimits `yaml:",inline"`
}

// ClientLimits bound what a client may take or send (nginx's defaults).
type ClientLimits struct {
	// ClientHeader bounds reading a request's head (proxy.timeouts.client_header).
	// Default: 10s.
	ClientHeader time.Duration `yaml:"client_header"`
	// ClientBody bounds each wait for more of a request body, between two
	// reads (proxy.timeouts.client_body); a stalled client is answered 408.
	// Default: 60s.
	ClientBody time.Duration `yaml:"client_body"`
	// ClientIdle closes a client's idle keep-alive connection
	// (proxy.timeouts.client_idle). Default: 75s.
	ClientIdle time.Duration `yaml:"client_idle"`
	// UpstreamResponseHeaderBytes caps an upstream's response head
	// (proxy.timeouts.upstream_response_header_bytes); a larger one is
	// answered 502. Default: 1048576.
	UpstreamResponseHeaderBytes int64 `yaml:"upstream_response_header_bytes"`
}

// DefaultClientLimits returns the client limits' defaults.
func DefaultClientLimits() ClientLimits {
	return ClientLimits{ClientHeader: 10 * time.Second, ClientBody: 60 * time.Second, ClientIdle: 75 * time.Second,
		UpstreamResponseHeaderBytes: 1 << 20}
}

// DefaultTimeouts returns the proxy.timeouts defaults.
func DefaultTimeouts() Timeouts {
	return Timeouts{Connect: 5 * time.Second, ResponseHeader: 30 * time.Second, Idle: 90 * time.Second}
}

// orDefault fills t's unset (zero) fields from d.
func (t Timeouts) orDefault(d Timeouts) Timeouts {
	if t.Connect == 0 {
		t.Connect = d.Connect
	}
	if t.ResponseHeader == 0 {
		t.ResponseHeader = d.ResponseHeader
	}
	if t.Idle == 0 {
		t.Idle = d.Idle
	}
	return t
}

// MITM configures TLS interception in forward mode: CONNECT tunnels to the
// listed hosts are terminated with certificates minted from the given CA so
// that their requests can be routed.
type MITM struct {
	// CACert is the path of the PEM CA certificate used to mint host
	// certificates. Requires CAKey.
	CACert string `yaml:"ca_cert,omitempty"`
	// CAKey is the path of the PEM private key of CACert. Requires CACert.
	CAKey string `yaml:"ca_key,omitempty"`
	// Hosts are the host names (optionally host:port, or *.domain) whose
	// tunnels are intercepted; required when CACert is set. Tunnels to other
	// hosts pass through untouched.
	Hosts []string `yaml:"hosts,omitempty"`
}

// Enabled reports whether TLS interception is configured.
func (m MITM) Enabled() bool { return m.CACert != "" }

// Route diverts matching requests to a new upstream.
type Route struct {
	// Name identifies the route in metrics, logs and the admin API.
	// Required, unique, matching [a-z0-9][a-z0-9_.-]*.
	Name string `yaml:"name"`
	// Match selects the requests this route applies to. All given
	// conditions must hold; an empty match matches every request.
	Match Match `yaml:"match"`
	// New is the base URL of the new service, http(s)://host[:port][/path].
	// Required.
	New string `yaml:"new"`
	// Weight is the percentage (0 to 100, decimals allowed) of matching
	// traffic sent to New; the rest goes to legacy. Default: 0.
	Weight float64 `yaml:"weight"`
	// Sticky keeps a client on the same side across requests:
	// header:NAME, cookie:NAME or query:NAME hash the named value,
	// none picks per request. Default: none.
	Sticky Sticky `yaml:"sticky"`
	// PinNew lists sticky key values that always go to New regardless of
	// Weight. Only valid when Sticky is not none.
	PinNew []string `yaml:"pin_new,omitempty"`
	// StripPrefix is removed from the request path before it is sent to New.
	// Must start with "/".
	StripPrefix string `yaml:"strip_prefix,omitempty"`
	// AddPrefix is prepended to the request path (after StripPrefix) before
	// it is sent to New. Must start with "/".
	AddPrefix string `yaml:"add_prefix,omitempty"`
	// Timeouts overrides proxy.timeouts for this route, key by key. After
	// loading, every field holds the effective value.
	Timeouts Timeouts `yaml:"timeouts"`
	// Shadow mirrors this route's requests to the side that did not serve
	// them and compares the answers.
	Shadow RouteShadow `yaml:"shadow"`
	// Compare says how shadowed answers are compared.
	Compare Compare `yaml:"compare"`
	// Noise configures the learning of legacy-vs-legacy differences.
	Noise Noise `yaml:"noise"`
	// Record writes sampled exchanges to FICUS_TRAFFIC for `ficus replay`.
	Record RouteRecord `yaml:"record"`
	// Rollout, when set, has ficus raise Weight step by step while the new
	// service keeps up (see Rollout). Default: none.
	Rollout *Rollout `yaml:"rollout,omitempty"`
}

// Match is the request condition of a route.
type Match struct {
	// PathPrefix matches paths starting with it; must start with "/".
	// At most one of PathPrefix, Path and PathRegex may be set.
	PathPrefix string `yaml:"path_prefix,omitempty"`
	// Path matches this exact path; must start with "/".
	Path string `yaml:"path,omitempty"`
	// PathRegex is a Go regular expression (RE2 syntax) matched against the
	// path; anchor it with ^ and $ yourself.
	PathRegex string `yaml:"path_regex,omitempty"`
	// Methods restricts the route to these upper-case HTTP methods
	// (GET, POST, ...). Empty means any method.
	Methods []string `yaml:"methods,omitempty"`
	// Host restricts the route to requests for this host or host:port
	// (compared case-insensitively with the Host header).
	Host string `yaml:"host,omitempty"`
	// Headers restricts the route to requests carrying all these headers
	// with exactly these values. Header names are case-insensitive.
	Headers map[string]string `yaml:"headers,omitempty"`
}

// StickyKind says where a sticky key is read from.
type StickyKind string

// Sticky kinds.
const (
	StickyNone   StickyKind = "none"
	StickyHeader StickyKind = "header"
	StickyCookie StickyKind = "cookie"
	StickyQuery  StickyKind = "query"
)

// Sticky is a parsed sticky setting such as "header:X-User-Id".
type Sticky struct {
	// Kind is none, header, cookie or query.
	Kind StickyKind
	// Name is the header, cookie or query parameter name; empty for none.
	Name string
}

// String returns the sticky setting in its config file form.
func (s Sticky) String() string {
	if s.Kind == StickyNone || s.Kind == "" {
		return string(StickyNone)
	}
	return string(s.Kind) + ":" + s.Name
}

// MarshalText writes the config file form, so dumps stay loadable.
func (s Sticky) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func defaultProxy() Proxy {
	return Proxy{
		Mode:                ModeReverse,
		ServedByHeader:      true,
		MaxHeaderBytes:      1 << 20,
		Timeouts:            ProxyTimeouts{DefaultTimeouts(), DefaultClientLimits()},
		MaxRequestBodyBytes: -1,
		RequestBufferBytes:  64 << 10,
	}
}

func defaultRoute() Route {
	return Route{Sticky: Sticky{Kind: StickyNone}, Shadow: defaultRouteShadow(), Noise: defaultNoise(),
		Record: defaultRouteRecord()}
}
