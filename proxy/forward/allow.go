package forward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// AllowRule opens destinations to the proxy's clients.
type AllowRule struct {
	// Host is an exact host name, an IP address, "*.domain" (any name below
	// domain, not domain itself) or "*" (any host); case-insensitive.
	Host string
	// Ports the rule opens, for plain HTTP and CONNECT alike. Empty: 80 for
	// plain HTTP, 443 for CONNECT and for requests read from intercepted
	// tunnels.
	Ports []int
}

// defaultAllow is what an empty Config.Allow means: any host, plain HTTP on
// port 80 and CONNECT to 443 (Squid's default).
var defaultAllow = []AllowRule{{Host: "*"}}

// Reasons for a refusal: the body's "reason" and the reason label of
// ficus_proxy_forward_denied_total.
const (
	reasonNotAllowed  = "not_allowed" // no allow rule for this host and port
	reasonBadTarget   = "bad_target"  // no port, a port out of range, a scheme other than http(s)
	reasonSelf        = "self"        // one of ficus's own listeners
	reasonMetadata    = "metadata"    // a cloud instance metadata address
	reasonUnspecified = "unspecified" // 0.0.0.0/8 or ::, which reach this host
	reasonLoopback    = "loopback"    // 127.0.0.0/8 or ::1, not named exactly by a rule
	reasonLinkLocal   = "link_local"  // 169.254.0.0/16 or fe80::/10, not named exactly by a rule
)

// metadataAddrs are cloud instance metadata services (AWS, GCP, Azure and
// Oracle share the first; AWS's IPv6 one; Alibaba's). They hand out
// credentials to whoever asks from the host, so no rule opens them.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"),
	netip.MustParseAddr("fd00:ec2::254"),
	netip.MustParseAddr("100.100.100.200"),
}

// A denial is a refused destination; as an error it crosses http.Transport
// and goproxy's CONNECT dialer, so that both answer 403 instead of 502.
type denial struct{ target, reason string }

func (d *denial) Error() string { return "forward proxy refuses " + d.target + ": " + d.reason }

func (d *denial) body() []byte {
	b, _ := json.Marshal(struct {
		Error  string `json:"error"`
		Reason string `json:"reason"`
		Target string `json:"target"`
	}{"destination not allowed", d.reason, d.target})
	return append(b, '\n')
}

// kind is how a destination is asked for; it picks a rule's default port.
type kind uint8

const (
	kindPlain kind = iota // a plain HTTP request: port 80
	kindTLS               // CONNECT, or a request inside an intercepted tunnel: port 443
	// kindDial is the dialer's re-check: the request's own kind was checked
	// first, so either default port will do.
	kindDial
)

type allowRule struct {
	any    bool       // "*"
	suffix string     // ".domain" for "*.domain"
	name   string     // an exact, lower-case name
	ip     netip.Addr // an exact address
	ports  []int      // nil: the kind's default port
}

func parseAllow(rules []AllowRule) ([]allowRule, error) {
	if len(rules) == 0 {
		rules = defaultAllow
	}
	out := make([]allowRule, 0, len(rules))
	for i, r := range rules {
		ar, err := parseAllowRule(r)
		if err != nil {
			return nil, fmt.Errorf("proxy.forward.allow[%d]: %w", i, err)
		}
		out = append(out, ar)
	}
	return out, nil
}

func parseAllowRule(r AllowRule) (allowRule, error) {
	var ar allowRule
	for _, p := range r.Ports {
		if p < 1 || p > 65535 {
			return ar, fmt.Errorf("port %d: want 1 to 65535", p)
		}
	}
	ar.ports = slices.Clone(r.Ports)
	h := normHost(r.Host)
	switch {
	case h == "*" && strings.TrimSpace(r.Host) == "*":
		ar.any = true
	case strings.HasPrefix(h, "*."):
		ar.suffix = h[1:]
		if len(ar.suffix) < 2 || strings.ContainsAny(ar.suffix[1:], "*/@: ") {
			return ar, fmt.Errorf("host %q: want a host name, an IP address, *.domain or *", r.Host)
		}
	default:
		if ip, err := netip.ParseAddr(h); err == nil {
			ar.ip = ip.Unmap().WithZone("")
			if reason := neverReason(ar.ip); reason != "" {
				return ar, fmt.Errorf("host %q: %s addresses are never reachable through the proxy", r.Host, reason)
			}
			break
		}
		if h == "" || strings.ContainsAny(h, "*/@:[] ") {
			return ar, fmt.Errorf("host %q: want a host name, an IP address, *.domain or *", r.Host)
		}
		ar.name = h
	}
	return ar, nil
}

// normHost lower-cases a host, drops a trailing dot and IPv6 brackets.
func normHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	h = strings.TrimSuffix(h, ".")
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	return h
}

// permit is what the rules matching a destination open beyond the default:
// loopback and link-local addresses are reachable only through a rule that
// names them exactly, by IP address or (loopback only) as "localhost" — a
// glob never opens them.
type permit struct{ loopback, linkLocal bool }

// guard decides which destinations clients may reach, and dials them.
type guard struct {
	rules  []allowRule
	self   []selfAddr
	bound  func() net.Addr // the proxy's own listener, once bound
	lookup func(ctx context.Context, host string) ([]netip.Addr, error)
	onDial func(addr string) error // tests: sees, and may veto, every upstream dial
	denied *prometheus.CounterVec
}

// deny counts and returns a refusal.
func (g *guard) deny(target, reason string) *denial {
	g.denied.WithLabelValues(reason).Inc()
	return &denial{target: target, reason: reason}
}

// checkRequest is the check of a plain or intercepted request, before it is
// routed: the destination the client asked for must be allowed, whichever
// side then serves it.
func (g *guard) checkRequest(target, scheme, host, port string) *denial {
	k, n := kindPlain, 80
	switch scheme {
	case "http":
	case "https":
		k, n = kindTLS, 443
	default:
		return g.deny(target, reasonBadTarget)
	}
	if port != "" {
		var err error
		if n, err = strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return g.deny(target, reasonBadTarget)
		}
	}
	if host == "" {
		return g.deny(target, reasonBadTarget)
	}
	_, d := g.check(host, n, k)
	return d
}

// checkConnect is the check of a CONNECT target (host:port).
func (g *guard) checkConnect(target string) *denial {
	host, port, ok := splitTarget(target)
	if !ok {
		return g.deny(target, reasonBadTarget)
	}
	_, d := g.check(host, port, kindTLS)
	return d
}

func splitTarget(target string) (string, int, bool) {
	host, ps, err := net.SplitHostPort(target)
	if err != nil {
		return "", 0, false
	}
	port, err := strconv.Atoi(ps)
	return host, port, err == nil && port >= 1 && port <= 65535 && host != ""
}

// check matches host and port against the rules and, for an IP address,
// checks the address itself. A name's addresses are checked when it is
// dialled, once resolved.
func (g *guard) check(host string, port int, k kind) (permit, *denial) {
	target := net.JoinHostPort(host, strconv.Itoa(port))
	h := normHost(host)
	ip, err := netip.ParseAddr(h)
	isIP := err == nil
	if isIP {
		ip = ip.Unmap()
	}
	var p permit
	allowed := false
	for _, r := range g.rules {
		if !r.allowsPort(port, k) {
			continue
		}
		switch {
		case r.any:
		case r.suffix != "":
			if isIP || !strings.HasSuffix(h, r.suffix) {
				continue
			}
		case r.ip.IsValid():
			if !isIP || ip.WithZone("") != r.ip {
				continue
			}
			p.loopback, p.linkLocal = true, true
		default:
			if h != r.name {
				continue
			}
			p.loopback = p.loopback || h == "localhost"
		}
		allowed = true
	}
	if !allowed {
		return p, g.deny(target, reasonNotAllowed)
	}
	if isIP {
		return p, g.checkIP(target, ip, port, p)
	}
	return p, nil
}

func (r allowRule) allowsPort(port int, k kind) bool {
	if r.ports != nil {
		return slices.Contains(r.ports, port)
	}
	switch k {
	case kindPlain:
		return port == 80
	case kindTLS:
		return port == 443
	}
	return port == 80 || port == 443
}

// neverReason names the class of an address that no rule can open, or "".
func neverReason(ip netip.Addr) string {
	switch {
	case slices.Contains(metadataAddrs, ip):
		return reasonMetadata
	case ip.IsUnspecified() || (ip.Is4() && ip.As4()[0] == 0):
		return reasonUnspecified
	}
	return ""
}

// checkIP checks one address the proxy is about to connect to.
func (g *guard) checkIP(target string, ip netip.Addr, port int, p permit) *denial {
	ip = ip.Unmap().WithZone("")
	reason := neverReason(ip)
	switch {
	case reason != "":
	case g.isSelf(ip, port):
		reason = reasonSelf
	case ip.IsLoopback() && !p.loopback:
		reason = reasonLoopback
	case (ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast()) && !p.linkLocal:
		reason = reasonLinkLocal
	default:
		return nil
	}
	return g.deny(target, reason)
}

// dialer returns the DialContext of the transports and the CONNECT dialer:
// it resolves the name once, checks every address and connects only to
// those checked addresses, so a name that changes its answer between a
// check and a connect (DNS rebinding) cannot slip through. connect bounds
// all attempts together.
func (g *guard) dialer(connect time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return g.dial(ctx, network, addr, kindDial, connect)
	}
}

func (g *guard) dial(ctx context.Context, network, addr string, k kind, connect time.Duration) (net.Conn, error) {
	host, port, ok := splitTarget(addr)
	if !ok {
		return nil, g.deny(addr, reasonBadTarget)
	}
	p, d := g.check(host, port, k)
	if d != nil {
		return nil, d
	}
	ctx, cancel := context.WithTimeout(ctx, connect)
	defer cancel()
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(normHost(host)); err == nil {
		ips = []netip.Addr{ip.Unmap()}
	} else if ips, err = g.lookup(ctx, host); err != nil {
		return nil, fmt.Errorf("resolve %s: %w", host, err)
	} else if len(ips) == 0 {
		return nil, fmt.Errorf("resolve %s: no addresses", host)
	}
	for _, ip := range ips {
		if d := g.checkIP(addr, ip, port, p); d != nil {
			return nil, d
		}
	}
	dl := net.Dialer{KeepAlive: 30 * time.Second}
	var errs []error
	for _, ip := range ips {
		a := netip.AddrPortFrom(ip.Unmap(), uint16(port)).String()
		if g.onDial != nil {
			if err := g.onDial(a); err != nil {
				return nil, err
			}
		}
		c, err := dl.DialContext(ctx, network, a)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("dial %s: %w", addr, errors.Join(errs...))
}

func defaultLookup(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// deniedResponse is the 403 a refused plain or intercepted request gets.
func deniedResponse(req *http.Request, d *denial) *http.Response {
	return jsonResponse(req, http.StatusForbidden, d.body())
}
