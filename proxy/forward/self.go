package forward

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// selfAddr is one of ficus's own listeners, which clients must never reach
// through the proxy: the admin API (/metrics, route weights), the embedded
// NATS server, the proxy itself (a loop).
type selfAddr struct {
	port int
	any  bool         // bound to every interface: each local address is it
	ips  []netip.Addr // otherwise these
}

// parseSelf reads host:port listen addresses. A host name is resolved now;
// if that fails the listener is taken as bound everywhere, which refuses
// more rather than less. Port 0 (not yet bound) is skipped.
func parseSelf(addrs []string, lookup func(context.Context, string) ([]netip.Addr, error)) ([]selfAddr, error) {
	var out []selfAddr
	for i, a := range addrs {
		host, ps, err := net.SplitHostPort(a)
		if err != nil {
			return nil, fmt.Errorf("self[%d] %q: %w", i, a, err)
		}
		port, err := strconv.Atoi(ps)
		if err != nil || port < 0 || port > 65535 {
			return nil, fmt.Errorf("self[%d] %q: bad port", i, a)
		}
		if port == 0 {
			continue
		}
		s := selfAddr{port: port}
		if ip, err := netip.ParseAddr(normHost(host)); err == nil {
			s.ips = []netip.Addr{ip.Unmap().WithZone("")}
			s.any = ip.IsUnspecified()
		} else if host == "" {
			s.any = true
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			ips, err := lookup(ctx, host)
			cancel()
			s.any = err != nil || len(ips) == 0
			for _, ip := range ips {
				s.ips = append(s.ips, ip.Unmap().WithZone(""))
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// isSelf reports whether ip:port is one of ficus's listeners, the proxy's
// own bound address included.
func (g *guard) isSelf(ip netip.Addr, port int) bool {
	self := g.self
	if g.bound != nil {
		if a, ok := g.bound().(*net.TCPAddr); ok && a != nil {
			ap := a.AddrPort()
			self = append(self[:len(self):len(self)], selfAddr{port: int(ap.Port()), any: ap.Addr().IsUnspecified(),
				ips: []netip.Addr{ap.Addr().Unmap().WithZone("")}})
		}
	}
	for _, s := range self {
		if s.port != port {
			continue
		}
		if s.any && (ip.IsLoopback() || isLocal(ip)) {
			return true
		}
		for _, a := range s.ips {
			if a == ip {
				return true
			}
		}
	}
	return false
}

// isLocal reports whether ip is an address of one of this host's
// interfaces. It is asked only when a port of a listener bound to every
// interface matches, so listing the interfaces each time costs little and
// follows address changes.
func isLocal(ip netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return true // unknown: refuse rather than reach ourselves
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if x, ok := netip.AddrFromSlice(n.IP); ok && x.Unmap() == ip {
				return true
			}
		}
	}
	return false
}
