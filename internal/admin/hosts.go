package admin

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// hosts decides whether a Host header names this listener. A browser sends
// the name from the URL it was given, so a page of evil.example whose DNS
// name was rebound to 127.0.0.1 still says "Host: evil.example": refusing
// names ficus does not answer as is what defeats DNS rebinding.
//
// Ports are compared only for allowed_hosts entries that give one: port
// forwarding (docker -p, kubectl port-forward, an ingress) changes the port a
// client dials, and rebinding needs a name the attacker owns, not a port.
type hosts struct {
	names map[string]bool // normalised names and IPs, any port
	exact map[string]bool // normalised "name:port" from allowed_hosts
	// wildcard is a listener on every interface (0.0.0.0, [::]): its
	// host is no name, so the machine's own IP literals stand for it.
	wildcard bool

	mu     sync.Mutex
	ifaces map[netip.Addr]bool
	readAt time.Time
}

// ifaceRefresh bounds how often an unknown IP literal re-reads the
// interfaces: addresses change (DHCP, a VPN coming up), yet a stream of
// foreign IP literals must not cost a netlink dump each.
const ifaceRefresh = 5 * time.Second

// newHosts builds the accepted set from the configured listen address, the
// bound one (which resolves "localhost" and port 0) and allowed_hosts.
func newHosts(listen string, bound net.Addr, allowed []string) (*hosts, error) {
	h := &hosts{names: map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}, exact: map[string]bool{}}
	if host, _, err := net.SplitHostPort(listen); err == nil && host != "" {
		if a, err := netip.ParseAddr(host); err == nil && a.IsUnspecified() {
			h.wildcard = true
		} else if name, ok := normalName(host); ok {
			h.names[name] = true
		}
	} else if err == nil {
		h.wildcard = true // ":9901"
	}
	if tcp, ok := bound.(*net.TCPAddr); ok {
		if a, ok := netip.AddrFromSlice(tcp.IP); ok {
			if a = a.Unmap(); a.IsUnspecified() {
				h.wildcard = true
			} else {
				h.names[a.String()] = true
			}
		}
	}
	for _, e := range allowed {
		name, port, ok := splitHost(e)
		if !ok {
			// A bare IPv6 address has colons but no brackets.
			a, err := netip.ParseAddr(e)
			if err != nil {
				return nil, fmt.Errorf("admin.allowed_hosts: %q is not a host or host:port", e)
			}
			name, port = a.Unmap().String(), ""
		}
		if port == "" {
			h.names[name] = true
		} else {
			h.exact[name+":"+port] = true
		}
	}
	return h, nil
}

// accept reports whether hostHeader names this listener. anyIP also accepts
// every IP literal: probes and scrapers address a pod by its IP, possibly
// through a NAT, and an IP literal is never a rebound name.
func (h *hosts) accept(hostHeader string, anyIP bool) bool {
	name, port, ok := splitHost(hostHeader)
	if !ok {
		return false
	}
	if h.names[name] || (port != "" && h.exact[name+":"+port]) {
		return true
	}
	a, err := netip.ParseAddr(name)
	if err != nil {
		return false
	}
	return anyIP || (h.wildcard && h.interfaceIP(a))
}

// interfaceIP reports whether a is an address of one of the machine's
// interfaces, re-reading them on a miss at most every ifaceRefresh.
func (h *hosts) interfaceIP(a netip.Addr) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ifaces[a] {
		return true
	}
	if !h.readAt.IsZero() && time.Since(h.readAt) < ifaceRefresh {
		return false
	}
	h.readAt = time.Now()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	h.ifaces = map[netip.Addr]bool{}
	for _, ad := range addrs {
		if n, ok := ad.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				h.ifaces[ip.Unmap()] = true
			}
		}
	}
	return h.ifaces[a]
}

// splitHost splits a Host header (name, name:port, [v6], [v6]:port) into
// a normalised name and the port, "" when absent.
func splitHost(s string) (name, port string, ok bool) {
	host := s
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", false
		}
		host, port = s[1:end], s[end+1:]
		if port != "" {
			if port, ok = strings.CutPrefix(port, ":"); !ok {
				return "", "", false
			}
		}
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() {
			return "", "", false
		}
		host = a.Unmap().String()
	} else if i := strings.IndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i+1:]
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '+' {
			return "", "", false
		}
	}
	name, ok = normalName(host)
	return name, port, ok
}

// normalName lower-cases a DNS name (dropping the root dot of "name.") and
// writes an IP in its canonical form ([0:0::1] is ::1), so that one address
// has one spelling to compare.
func normalName(s string) (string, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().String(), true
	}
	s = strings.TrimSuffix(strings.ToLower(s), ".")
	if s == "" {
		return "", false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return "", false
		}
	}
	return s, true
}
