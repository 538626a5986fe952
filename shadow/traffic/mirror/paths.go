package mirror

import (
	"net/url"
	"strings"
)

// Paths rewrites between the path a client asked for and the paths the
// proxy sends to each side of a route, exactly as the proxy does; shadow
// mirroring, recording and replay share it.
type Paths struct {
	// Legacy and New are the sides' base URLs; StripPrefix and AddPrefix
	// the route's rewrite for New.
	Legacy, New            *url.URL
	StripPrefix, AddPrefix string
}

// Client recovers the client's path from out, the outgoing path of the
// side served ("legacy" or "new"): the proxy joined it to that side's base
// path, and for the new side rewrote it first.
func (p Paths) Client(served, out string) string {
	if served == sideLegacy {
		return trimBase(out, p.Legacy.Path)
	}
	c := trimBase(out, p.New.Path)
	if ap := p.AddPrefix; ap != "" {
		if rest, ok := strings.CutPrefix(c, strings.TrimSuffix(ap, "/")); ok {
			c = rest
		}
	}
	if sp := p.StripPrefix; sp != "" {
		c = strings.TrimSuffix(sp, "/") + ensureSlash(c)
	}
	return ensureSlash(c)
}

// ForNew is the path the proxy would send to the new side for the client
// path client.
func (p Paths) ForNew(client string) string {
	c := client
	if sp := p.StripPrefix; sp != "" && strings.HasPrefix(c, sp) {
		c = ensureSlash(c[len(sp):])
	}
	if ap := p.AddPrefix; ap != "" {
		switch {
		case c == "/":
			c = ap
		case strings.HasSuffix(ap, "/"):
			c = ap + c[1:]
		default:
			c = ap + c
		}
	}
	newBase := ""
	if p.New != nil {
		newBase = p.New.Path
	}
	return joinPath(newBase, c)
}
