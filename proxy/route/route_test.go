package route

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/proxy/upstream"
)

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func mustCompile(t testing.TB, specs []Spec) *Table {
	t.Helper()
	tab, err := Compile(specs)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestMatch(t *testing.T) {
	newURL := mustURL(t, "http://127.0.0.1:9")
	specs := []Spec{
		{Name: "exact", Path: "/exact", New: newURL},
		{Name: "regex", PathRegex: `^/users/[0-9]+$`, New: newURL},
		{Name: "methods", PathPrefix: "/write", Methods: []string{"POST", "PUT"}, New: newURL},
		{Name: "host", PathPrefix: "/h", Host: "Shop.Example", New: newURL},
		{Name: "hostport", PathPrefix: "/hp", Host: "shop.example:8080", New: newURL},
		{Name: "headers", PathPrefix: "/hdr", Headers: map[string]string{"x-tenant": "acme", "X-Env": "prod"}, New: newURL},
		{Name: "dir", PathPrefix: "/dir/", New: newURL},
		{Name: "api-orders", PathPrefix: "/api/orders", New: newURL},
		{Name: "api", PathPrefix: "/api", New: newURL},
		{Name: "ipv6", PathPrefix: "/v6", Host: "[::1]", New: newURL},
	}
	tab := mustCompile(t, specs)
	tests := []struct {
		method, target, host string
		hdr                  map[string][]string
		want                 string
	}{
		{"GET", "/exact", "", nil, "exact"},
		{"GET", "/exact/", "", nil, "default"},
		{"GET", "/exactly", "", nil, "default"},
		{"GET", "/users/42", "", nil, "regex"},
		{"GET", "/users/abc", "", nil, "default"},
		{"POST", "/write/x", "", nil, "methods"},
		{"PUT", "/write", "", nil, "methods"},
		{"GET", "/write", "", nil, "default"},
		{"GET", "/h/x", "shop.example", nil, "host"},
		{"GET", "/h/x", "SHOP.example:443", nil, "host"},
		{"GET", "/h/x", "other.example", nil, "default"},
		{"GET", "/hp", "shop.example:8080", nil, "hostport"},
		{"GET", "/hp", "shop.example:9090", nil, "default"},
		{"GET", "/hp", "shop.example", nil, "default"},
		{"GET", "/hdr", "", map[string][]string{"X-Tenant": {"acme"}, "X-Env": {"prod"}}, "headers"},
		{"GET", "/hdr", "", map[string][]string{"X-Tenant": {"other", "acme"}, "X-Env": {"prod"}}, "headers"},
		{"GET", "/hdr", "", map[string][]string{"X-Tenant": {"ACME"}, "X-Env": {"prod"}}, "default"},
		{"GET", "/hdr", "", map[string][]string{"X-Tenant": {"acme"}}, "default"},
		{"GET", "/dir/", "", nil, "dir"},
		{"GET", "/dir/a/b", "", nil, "dir"},
		{"GET", "/dir", "", nil, "default"},
		// first match wins: /api/orders precedes /api.
		{"GET", "/api/orders/7", "", nil, "api-orders"},
		{"GET", "/api/orders", "", nil, "api-orders"},
		{"GET", "/api/ordersx", "", nil, "api"},
		{"GET", "/api", "", nil, "api"},
		{"GET", "/apix", "", nil, "default"},
		{"GET", "/v6", "[::1]:8080", nil, "ipv6"},
		{"GET", "/v6", "[::2]:8080", nil, "default"},
		{"GET", "/", "", nil, "default"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.host+tt.target, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, nil)
			if tt.host != "" {
				r.Host = tt.host
			}
			for k, v := range tt.hdr {
				r.Header[k] = v
			}
			if got := tab.Route(r).Name(); got != tt.want {
				t.Fatalf("route = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	u := mustURL(t, "http://127.0.0.1:9")
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"no name", Spec{New: u}, "name is required"},
		{"reserved", Spec{Name: "default", New: u}, "reserved"},
		{"two paths", Spec{Name: "a", Path: "/a", PathPrefix: "/a", New: u}, "at most one"},
		{"bad regex", Spec{Name: "a", PathRegex: "(", New: u}, "path_regex"},
		{"relative prefix", Spec{Name: "a", PathPrefix: "a", New: u}, "must start with /"},
		{"lower method", Spec{Name: "a", Methods: []string{"get"}, New: u}, "upper-case"},
		{"bad header", Spec{Name: "a", Headers: map[string]string{"a b": "x"}, New: u}, "header name"},
		{"no new", Spec{Name: "a"}, "new URL is required"},
		{"relative new", Spec{Name: "a", New: mustURL(t, "/x")}, "absolute"},
		{"userinfo", Spec{Name: "a", New: mustURL(t, "http://u:secret@h")}, "user info"},
		{"weight high", Spec{Name: "a", New: u, Weight: 100.1}, "between 0 and 100"},
		{"weight low", Spec{Name: "a", New: u, Weight: -1}, "between 0 and 100"},
		{"sticky kind", Spec{Name: "a", New: u, Sticky: "ip:x"}, "sticky"},
		{"sticky empty", Spec{Name: "a", New: u, Sticky: "header:"}, "sticky"},
		{"pin no sticky", Spec{Name: "a", New: u, PinNew: []string{"k"}}, "pin_new requires"},
		{"strip", Spec{Name: "a", New: u, StripPrefix: "x"}, "strip_prefix"},
		{"timeouts", Spec{Name: "a", New: u, Timeouts: upstream.Timeouts{Idle: -time.Second}}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile([]Spec{tt.spec})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error leaks the URL password: %v", err)
			}
		})
	}
	_, err := Compile([]Spec{{Name: "a", New: u}, {Name: "a", New: u}})
	if err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Fatalf("duplicate names: err = %v", err)
	}
}

// TestCompileErrorsWrap checks that Compile's joined error keeps each
// route's error in the chain, so a caller can tell a weight out of range.
func TestCompileErrorsWrap(t *testing.T) {
	u := mustURL(t, "http://127.0.0.1:9")
	_, err := Compile([]Spec{{Name: "a", New: u, Sticky: "ip:x"}, {Name: "b", New: u, Weight: 101}})
	if !errors.Is(err, ErrWeightRange) {
		t.Fatalf("errors.Is(%v, ErrWeightRange) = false", err)
	}
	const want = `compile routes: route[0] "a": sticky "ip:x" must be none, header:NAME, cookie:NAME or query:NAME; ` +
		`route[1] "b": weight must be between 0 and 100, got 101`
	if err.Error() != want {
		t.Errorf("err = %q\nwant  %q", err, want)
	}
	if _, err := Compile([]Spec{{Name: "a", New: u, Sticky: "ip:x"}}); errors.Is(err, ErrWeightRange) {
		t.Errorf("errors.Is(%v, ErrWeightRange) = true for a route without a weight problem", err)
	}
}

func TestRewritePath(t *testing.T) {
	u := mustURL(t, "http://127.0.0.1:9")
	tests := []struct {
		strip, add, in, want string
	}{
		{"", "", "/api/x", "/api/x"},
		{"/api", "", "/api/x", "/x"},
		{"/api", "", "/api", "/"},
		{"/api/", "", "/api/x", "/x"},
		{"/api", "", "/other", "/other"},
		{"", "/v2", "/x", "/v2/x"},
		{"", "/v2/", "/x", "/v2/x"},
		{"", "/v2", "/", "/v2"},
		{"/api", "/v2", "/api/orders", "/v2/orders"},
		{"/api", "/v2", "/api", "/v2"},
	}
	for _, tt := range tests {
		t.Run(tt.strip+"|"+tt.add+"|"+tt.in, func(t *testing.T) {
			tab := mustCompile(t, []Spec{{Name: "r", New: u, StripPrefix: tt.strip, AddPrefix: tt.add}})
			if got := tab.Routes()[0].RewritePath(tt.in); got != tt.want {
				t.Fatalf("RewritePath(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestWithWeight(t *testing.T) {
	u := mustURL(t, "http://127.0.0.1:9")
	tab := mustCompile(t, []Spec{{Name: "a", New: u, Weight: 10}, {Name: "b", New: u, Weight: 20}})
	nt, err := tab.WithWeight("b", 55.5)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := nt.Lookup("b"); r.Weight() != 55.5 || r.Spec().Weight != 55.5 || r.Index() != 1 {
		t.Fatalf("new table weight = %v", r.Weight())
	}
	if r, _ := tab.Lookup("b"); r.Weight() != 20 {
		t.Fatalf("old table modified: %v", r.Weight())
	}
	if nt.Routes()[0] != tab.Routes()[0] {
		t.Fatal("untouched route should be shared")
	}
	if _, err := tab.WithWeight("zzz", 1); !errors.Is(err, ErrUnknownRoute) {
		t.Fatalf("unknown: %v", err)
	}
	if _, err := tab.WithWeight("a", 101); !errors.Is(err, ErrWeightRange) {
		t.Fatalf("range: %v", err)
	}
}

func TestStickyKeyExtraction(t *testing.T) {
	tests := []struct {
		name    string
		sticky  string
		setup   func(r *http.Request)
		target  string
		wantKey string
		wantOK  bool
	}{
		{"header", "header:x-user-id", func(r *http.Request) { r.Header.Set("X-User-Id", "u1") }, "/", "u1", true},
		{"header missing", "header:X-User-Id", func(r *http.Request) {}, "/", "", false},
		{"cookie", "cookie:sid", func(r *http.Request) { r.Header.Set("Cookie", "a=1; sid=abc; b=2") }, "/", "abc", true},
		{"cookie quoted", "cookie:sid", func(r *http.Request) { r.Header.Set("Cookie", `sid="q"`) }, "/", "q", true},
		{"cookie second line", "cookie:sid", func(r *http.Request) {
			r.Header.Add("Cookie", "a=1")
			r.Header.Add("Cookie", "sid=z")
		}, "/", "z", true},
		{"cookie prefix name", "cookie:sid", func(r *http.Request) { r.Header.Set("Cookie", "xsid=1") }, "/", "", false},
		{"query", "query:u", func(r *http.Request) {}, "/?a=1&u=k%20x&u=2", "k x", true},
		{"query escaped key", "query:u id", func(r *http.Request) {}, "/?u+id=7", "7", true},
		{"query empty", "query:u", func(r *http.Request) {}, "/?u=", "", false},
		{"query missing", "query:u", func(r *http.Request) {}, "/?uu=1", "", false},
	}
	u := mustURL(t, "http://127.0.0.1:9")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := mustCompile(t, []Spec{{Name: "r", New: u, Sticky: tt.sticky}})
			r := httptest.NewRequest("GET", tt.target, nil)
			tt.setup(r)
			k, ok := tab.Routes()[0].stickyKey(r)
			if k != tt.wantKey || ok != tt.wantOK {
				t.Fatalf("key = %q,%v want %q,%v", k, ok, tt.wantKey, tt.wantOK)
			}
			if d := tab.Route(r); d.Key != tt.wantKey {
				t.Fatalf("decision key = %q", d.Key)
			}
		})
	}
}

func TestSideString(t *testing.T) {
	if Legacy.String() != "legacy" || New.String() != "new" {
		t.Fatal(Legacy.String(), New.String())
	}
}
