package route

import (
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
)

// Decision is the outcome of routing one request.
type Decision struct {
	// Route is the matched route, nil when no route matched (legacy).
	Route *Route
	Side  Side
	// Key is the sticky key used, "" when the split was random.
	Key string
}

// Name returns the matched route's name or DefaultName.
func (d Decision) Name() string {
	if d.Route == nil {
		return DefaultName
	}
	return d.Route.spec.Name
}

// Route decides route and side for r. It does not modify r and, apart from
// unescaping a percent-encoded sticky query value, does not allocate.
func (t *Table) Route(r *http.Request) Decision {
	for _, rt := range t.routes {
		if rt.matches(r) {
			return rt.decide(r)
		}
	}
	return Decision{}
}

// Match returns the first route matching r, or nil.
func (t *Table) Match(r *http.Request) *Route {
	for _, rt := range t.routes {
		if rt.matches(r) {
			return rt
		}
	}
	return nil
}

func (rt *Route) matches(r *http.Request) bool {
	p := r.URL.Path
	switch {
	case rt.prefix != "":
		if !strings.HasPrefix(p, rt.prefix) {
			return false
		}
		if !rt.prefixDir && len(p) > len(rt.prefix) && p[len(rt.prefix)] != '/' {
			return false
		}
	case rt.exact != "":
		if p != rt.exact {
			return false
		}
	case rt.re != nil:
		if !rt.re.MatchString(p) {
			return false
		}
	}
	if len(rt.methods) > 0 {
		ok := false
		for _, m := range rt.methods {
			if m == r.Method {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if rt.host != "" {
		h := r.Host
		if !rt.hostPort {
			h = stripPort(h)
		}
		if !strings.EqualFold(h, rt.host) {
			return false
		}
	}
	for _, hm := range rt.headers {
		ok := false
		for _, v := range r.Header[hm.key] {
			if v == hm.value {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// decide picks the side for a request already known to match rt.
func (rt *Route) decide(r *http.Request) Decision {
	d := Decision{Route: rt}
	if rt.sticky != stickyNone {
		if k, ok := rt.stickyKey(r); ok {
			d.Key = k
			if _, pinned := rt.pin[k]; pinned || rt.PointFor(k) < rt.weight {
				d.Side = New
			}
			return d
		}
	}
	// Global math/rand/v2 functions use a per-thread generator: no lock.
	if rt.weight >= 100 || (rt.weight > 0 && rand.Float64()*100 < rt.weight) {
		d.Side = New
	}
	return d
}

// PointFor maps a sticky key to a uniform point in [0,100) that depends only
// on the route name and the key, so a key's side is stable at a given weight
// and raising the weight only moves keys from legacy to new.
func (rt *Route) PointFor(key string) float64 {
	return point(rt.spec.Name, key)
}

func point(name, key string) float64 {
	// FNV-1a, hand-inlined to avoid allocating a hash.Hash, then a
	// splitmix64 finaliser because FNV's high bits mix poorly on short keys.
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(name); i++ {
		h = (h ^ uint64(name[i])) * prime
	}
	h = (h ^ 0xff) * prime // separator: ("ab","c") != ("a","bc")
	for i := 0; i < len(key); i++ {
		h = (h ^ uint64(key[i])) * prime
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return float64(h>>11) * (100.0 / (1 << 53))
}

func (rt *Route) stickyKey(r *http.Request) (string, bool) {
	switch rt.sticky {
	case stickyHeader:
		if v := r.Header[rt.stickyName]; len(v) > 0 && v[0] != "" {
			return v[0], true
		}
	case stickyCookie:
		return cookieValue(r.Header["Cookie"], rt.stickyName)
	case stickyQuery:
		return queryValue(r.URL.RawQuery, rt.stickyName)
	}
	return "", false
}

// cookieValue finds a cookie without http.Request.Cookie, which parses and
// allocates every cookie on the request.
func cookieValue(lines []string, name string) (string, bool) {
	for _, line := range lines {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			k, v, ok := strings.Cut(part, "=")
			if !ok || k != name {
				continue
			}
			if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			if v == "" {
				return "", false
			}
			return v, true
		}
	}
	return "", false
}

// queryValue returns the first value of key in a raw query without building
// a url.Values map.
func queryValue(raw, key string) (string, bool) {
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(part, "=")
		if strings.ContainsAny(k, "%+") {
			uk, err := url.QueryUnescape(k)
			if err != nil {
				continue
			}
			k = uk
		}
		if k != key {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			uv, err := url.QueryUnescape(v)
			if err != nil {
				return "", false
			}
			v = uv
		}
		if v == "" {
			return "", false
		}
		return v, true
	}
	return "", false
}
