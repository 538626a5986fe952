package rules

import (
	"net/url"
	"strings"
	"testing"
)

func TestCleanPath(t *testing.T) {
	tests := []struct {
		in, path, raw string // raw: the escaped path forwarded
		bad           bool
	}{
		{in: "/api/orders/1", path: "/api/orders/1", raw: "/api/orders/1"},
		{in: "/", path: "/", raw: "/"},
		{in: "/api/orders/../../internal/admin", path: "/internal/admin", raw: "/internal/admin"},
		{in: "/api/orders/%2e%2e/%2E%2E/internal/admin", path: "/internal/admin", raw: "/internal/admin"},
		{in: "/api//orders/./1", path: "/api/orders/1", raw: "/api/orders/1"},
		{in: "//api/orders/1", path: "/api/orders/1", raw: "/api/orders/1"},
		{in: "/a/b/", path: "/a/b/", raw: "/a/b/"},
		{in: "/a/b/.", path: "/a/b/", raw: "/a/b/"},
		{in: "/a/b/..", path: "/a/", raw: "/a/"},
		{in: "/..", path: "/", raw: "/"},
		{in: "/../../etc/passwd", path: "/etc/passwd", raw: "/etc/passwd"},
		{in: "/a/.b/..c/...", path: "/a/.b/..c/...", raw: "/a/.b/..c/..."},
		{in: "/.well-known/x", path: "/.well-known/x", raw: "/.well-known/x"},
		{in: "/a%2Eb", path: "/a.b", raw: "/a%2Eb"},
		{in: "/api%2Forders/1", path: "/api/orders/1", raw: "/api%2Forders/1"},
		{in: "/x//y%2F/z", path: "/x/y//z", raw: "/x/y%2F/z"},
		{in: "/api/orders%2F..%2F..%2Finternal", bad: true},
		{in: "/a/%2e%2e%2fb", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			u, err := url.ParseRequestURI(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			err = CleanPath(u)
			if tt.bad {
				if err == nil {
					t.Fatalf("accepted as %q (raw %q)", u.Path, u.EscapedPath())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.Path != tt.path || u.EscapedPath() != tt.raw {
				t.Fatalf("got path %q raw %q, want %q %q", u.Path, u.EscapedPath(), tt.path, tt.raw)
			}
		})
	}
}

func TestCleanQuery(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a=1&b=2", "a=1&b=2"},
		{"b=2&a=1", "b=2&a=1"}, // clean queries keep their order
		{"a=1;b=2", ""},        // ParseQuery refuses semicolons: the pair is dropped
		{"a=%zz&b=2", "b=2"},
		{"a=%4", ""},
		{"x=" + strings.Repeat("&", maxQueryParams), ""}, // over the limit: nothing parses
	}
	for _, tt := range tests {
		if got := CleanQuery(tt.in); got != tt.want {
			t.Errorf("CleanQuery(%.40q) = %.40q, want %.40q", tt.in, got, tt.want)
		}
	}
}

func TestStripFicusHeaders(t *testing.T) {
	h := map[string][]string{"Ficus-Shadow": {"1"}, "ficus-x": {"y"}, "FICUS-Route": {"r"}, "Ficusx": {"keep"},
		"X-Ficus-Shadow": {"keep"}, "Accept": {"*/*"}}
	StripFicusHeaders(h)
	if len(h) != 3 || h["Ficusx"] == nil || h["X-Ficus-Shadow"] == nil || h["Accept"] == nil {
		t.Fatalf("left %v", h)
	}
}

// FuzzCleanPath: whatever the path, the cleaned one has no dot segment and
// no empty segment, cleaning is idempotent, and Path is RawPath decoded.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/a/../b", "/%2e%2E/x", "//a//b/", "/a%2F..%2Fb", "/./.", "/a/b/c/../../.."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := url.ParseRequestURI(s)
		if err != nil || u.Opaque != "" || u.Host != "" || u.RawQuery != "" {
			return
		}
		if CleanPath(u) != nil {
			return
		}
		esc := u.EscapedPath()
		if hasDotSegment(u.Path) || strings.Contains(esc, "//") || dotSegmentIn(esc) {
			t.Fatalf("%q cleaned to %q (raw %q)", s, u.Path, esc)
		}
		if dec, err := url.PathUnescape(esc); err != nil || dec != u.Path {
			t.Fatalf("%q: raw %q does not decode to path %q", s, esc, u.Path)
		}
		again := *u
		if err := CleanPath(&again); err != nil || again.EscapedPath() != esc {
			t.Fatalf("%q: not idempotent: %q then %q (%v)", s, esc, again.EscapedPath(), err)
		}
	})
}

func dotSegmentIn(esc string) bool {
	for _, seg := range strings.Split(esc, "/") {
		if dotSegment(seg) > 0 {
			return true
		}
	}
	return false
}
