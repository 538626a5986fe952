// Package route is the routing core of the strangler proxy: a compiled,
// immutable table that decides, as a pure function of the request, which
// route matches and whether the request goes to the legacy or the new side.
package route

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/ficus-migrate/ficus/proxy/upstream"
)

// Side is the upstream a request is sent to.
type Side uint8

// The two sides: the legacy application and the new service replacing it.
const (
	Legacy Side = iota
	New
)

// String returns "legacy" or "new".
func (s Side) String() string {
	if s == New {
		return "new"
	}
	return "legacy"
}

// DefaultName is the route name used (in metrics, headers, errors) for
// requests no route matched; it is therefore reserved.
const DefaultName = "default"

// Spec is the uncompiled description of one route, as given by the config.
type Spec struct {
	Name string
	// At most one of PathPrefix, Path, PathRegex. PathPrefix matches whole
	// path segments: "/api" matches "/api" and "/api/x" but not "/apix";
	// a prefix ending in "/" matches any path starting with it.
	PathPrefix string
	Path       string
	PathRegex  string
	// Methods, if non-empty, restricts the route to these methods.
	Methods []string
	// Host, if set, must equal the request host (case-insensitive). Without
	// a port it matches any port; with a port it must match exactly.
	Host string
	// Headers must all be present with exactly these values (any one of a
	// repeated header's values may match).
	Headers map[string]string
	// New is the base URL of the new implementation.
	New *url.URL
	// Weight is the percentage (0..100, decimals allowed) sent to New.
	Weight float64
	// Sticky is "" or "none", or "header:NAME", "cookie:NAME", "query:NAME".
	Sticky string
	// PinNew lists sticky keys that always go to New regardless of weight.
	PinNew []string
	// StripPrefix and AddPrefix rewrite the path on the new side only.
	StripPrefix string
	AddPrefix   string
	// Timeouts for the new upstream; zero fields inherit the proxy defaults.
	Timeouts upstream.Timeouts
}

type stickyKind uint8

const (
	stickyNone stickyKind = iota
	stickyHeader
	stickyCookie
	stickyQuery
)

type headerMatch struct {
	key, value string // key is canonical
}

// Route is one compiled, immutable route.
type Route struct {
	spec  Spec
	index int

	prefix     string
	prefixDir  bool // prefix ends in "/": plain string prefix
	exact      string
	re         *regexp.Regexp
	methods    []string
	host       string
	hostPort   bool
	headers    []headerMatch
	weight     float64
	sticky     stickyKind
	stickyName string // canonical header name, cookie name or query key
	pin        map[string]struct{}
}

// Name returns the route name.
func (r *Route) Name() string { return r.spec.Name }

// Index returns the route's position in its table (stable across WithWeight).
func (r *Route) Index() int { return r.index }

// Weight returns the percentage of requests sent to the new side.
func (r *Route) Weight() float64 { return r.weight }

// NewURL returns the new side's base URL; callers must not modify it.
func (r *Route) NewURL() *url.URL { return r.spec.New }

// Timeouts returns the new side's configured timeouts (zero = inherit).
func (r *Route) Timeouts() upstream.Timeouts { return r.spec.Timeouts }

// Spec returns a copy of the route's spec with the current weight.
func (r *Route) Spec() Spec {
	s := r.spec
	s.Weight = r.weight
	s.Methods = append([]string(nil), s.Methods...)
	s.PinNew = append([]string(nil), s.PinNew...)
	if s.Headers != nil {
		h := make(map[string]string, len(s.Headers))
		for k, v := range s.Headers {
			h[k] = v
		}
		s.Headers = h
	}
	return s
}

// RewritePath applies StripPrefix then AddPrefix to p (new side only). It
// allocates only when AddPrefix is set.
func (r *Route) RewritePath(p string) string {
	if sp := r.spec.StripPrefix; sp != "" && strings.HasPrefix(p, sp) {
		p = p[len(sp):]
		if p == "" || p[0] != '/' {
			p = "/" + p
		}
	}
	if ap := r.spec.AddPrefix; ap != "" {
		if p == "/" {
			return ap
		}
		if strings.HasSuffix(ap, "/") {
			return ap + p[1:]
		}
		return ap + p
	}
	return p
}

// Table is an ordered, immutable set of routes; the first match wins.
type Table struct {
	routes []*Route
	byName map[string]*Route
}

// Routes returns the routes in match order; callers must not modify the slice.
func (t *Table) Routes() []*Route { return t.routes }

// Lookup returns the named route.
func (t *Table) Lookup(name string) (*Route, bool) {
	r, ok := t.byName[name]
	return r, ok
}

// Compile validates specs and builds a table. All problems are reported,
// joined, each prefixed by the route's position and name.
func Compile(specs []Spec) (*Table, error) {
	t := &Table{routes: make([]*Route, 0, len(specs)), byName: make(map[string]*Route, len(specs))}
	var errs routeErrors
	for i, s := range specs {
		r, err := compileOne(s)
		if err == nil {
			if _, dup := t.byName[s.Name]; dup {
				err = fmt.Errorf("duplicate route name")
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("route[%d] %q: %w", i, s.Name, err))
			continue
		}
		r.index = len(t.routes)
		t.routes = append(t.routes, r)
		t.byName[r.spec.Name] = r
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("compile routes: %w", errs)
	}
	return t, nil
}

// routeErrors are the problems of several routes, on one line; errors.Is
// and errors.As see each of them (ErrWeightRange, for one).
type routeErrors []error

func (e routeErrors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e routeErrors) Unwrap() []error { return e }

// WithWeight returns a copy of t with the named route's weight changed.
func (t *Table) WithWeight(name string, w float64) (*Table, error) {
	old, ok := t.byName[name]
	if !ok {
		return nil, fmt.Errorf("set weight of route %q: %w", name, ErrUnknownRoute)
	}
	if err := checkWeight(w); err != nil {
		return nil, fmt.Errorf("set weight of route %q: %w", name, err)
	}
	nr := *old
	nr.weight = w
	nt := &Table{routes: make([]*Route, len(t.routes)), byName: make(map[string]*Route, len(t.byName))}
	copy(nt.routes, t.routes)
	nt.routes[nr.index] = &nr
	for _, r := range nt.routes {
		nt.byName[r.spec.Name] = r
	}
	return nt, nil
}

// ErrUnknownRoute is returned (wrapped) for operations on a missing route.
var ErrUnknownRoute = fmt.Errorf("unknown route")

// ErrWeightRange is returned (wrapped) for weights outside 0..100.
var ErrWeightRange = fmt.Errorf("weight must be between 0 and 100")

func checkWeight(w float64) error {
	if math.IsNaN(w) || w < 0 || w > 100 {
		return fmt.Errorf("%w, got %v", ErrWeightRange, w)
	}
	return nil
}

func compileOne(s Spec) (*Route, error) {
	if s.Name == "" {
		return nil, fmt.Errorf("name is required")
	}
	if s.Name == DefaultName {
		return nil, fmt.Errorf("name %q is reserved for unmatched requests", DefaultName)
	}
	r := &Route{spec: s, weight: s.Weight}
	n := 0
	for _, v := range []string{s.PathPrefix, s.Path, s.PathRegex} {
		if v != "" {
			n++
		}
	}
	if n > 1 {
		return nil, fmt.Errorf("at most one of path_prefix, path, path_regex may be set")
	}
	switch {
	case s.PathPrefix != "":
		if s.PathPrefix[0] != '/' {
			return nil, fmt.Errorf("path_prefix %q must start with /", s.PathPrefix)
		}
		r.prefix = s.PathPrefix
		r.prefixDir = strings.HasSuffix(s.PathPrefix, "/")
	case s.Path != "":
		if s.Path[0] != '/' {
			return nil, fmt.Errorf("path %q must start with /", s.Path)
		}
		r.exact = s.Path
	case s.PathRegex != "":
		re, err := regexp.Compile(s.PathRegex)
		if err != nil {
			return nil, fmt.Errorf("path_regex: %w", err)
		}
		r.re = re
	}
	for _, m := range s.Methods {
		if m == "" || !isToken(m) || strings.ToUpper(m) != m {
			return nil, fmt.Errorf("method %q must be an upper-case HTTP method token", m)
		}
		r.methods = append(r.methods, m)
	}
	if s.Host != "" {
		r.host = strings.ToLower(s.Host)
		r.hostPort = hasPort(r.host)
	}
	for k, v := range s.Headers {
		if k == "" || !isToken(k) {
			return nil, fmt.Errorf("header name %q is not a valid token", k)
		}
		r.headers = append(r.headers, headerMatch{key: http.CanonicalHeaderKey(k), value: v})
	}
	if s.New == nil {
		return nil, fmt.Errorf("new URL is required")
	}
	if (s.New.Scheme != "http" && s.New.Scheme != "https") || s.New.Host == "" {
		return nil, fmt.Errorf("new URL must be absolute http(s)://host[:port][/path]")
	}
	if s.New.User != nil {
		return nil, fmt.Errorf("new URL must not contain user info")
	}
	if s.New.RawQuery != "" || s.New.Fragment != "" {
		return nil, fmt.Errorf("new URL must not contain a query or fragment")
	}
	if err := checkWeight(s.Weight); err != nil {
		return nil, err
	}
	if err := r.parseSticky(s.Sticky); err != nil {
		return nil, err
	}
	if len(s.PinNew) > 0 {
		if r.sticky == stickyNone {
			return nil, fmt.Errorf("pin_new requires sticky to be set")
		}
		r.pin = make(map[string]struct{}, len(s.PinNew))
		for _, k := range s.PinNew {
			r.pin[k] = struct{}{}
		}
	}
	for name, v := range map[string]string{"strip_prefix": s.StripPrefix, "add_prefix": s.AddPrefix} {
		if v != "" && v[0] != '/' {
			return nil, fmt.Errorf("%s %q must start with /", name, v)
		}
	}
	if err := s.Timeouts.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Route) parseSticky(s string) error {
	if s == "" || s == "none" {
		return nil
	}
	kind, name, ok := strings.Cut(s, ":")
	if !ok || name == "" {
		return fmt.Errorf("sticky %q must be none, header:NAME, cookie:NAME or query:NAME", s)
	}
	switch kind {
	case "header":
		if !isToken(name) {
			return fmt.Errorf("sticky header name %q is not a valid token", name)
		}
		r.sticky, r.stickyName = stickyHeader, http.CanonicalHeaderKey(name)
	case "cookie":
		r.sticky, r.stickyName = stickyCookie, name
	case "query":
		r.sticky, r.stickyName = stickyQuery, name
	default:
		return fmt.Errorf("sticky %q must be none, header:NAME, cookie:NAME or query:NAME", s)
	}
	return nil
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}

// stripPort returns h without a trailing ":port"; bracketed IPv6 literals
// keep their brackets and bare IPv6 literals are returned unchanged.
func stripPort(h string) string {
	if h == "" {
		return h
	}
	if h[0] == '[' {
		if i := strings.IndexByte(h, ']'); i > 0 {
			return h[:i+1]
		}
		return h
	}
	if i := strings.IndexByte(h, ':'); i >= 0 && strings.IndexByte(h[i+1:], ':') < 0 {
		return h[:i]
	}
	return h
}

func hasPort(h string) bool { return stripPort(h) != h }
