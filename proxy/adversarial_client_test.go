package proxy

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ficus-migrate/ficus/proxy/route"
)

// Adversarial clients: requests whose framing or target could make ficus
// and the upstream disagree about what was asked. A request ficus refuses
// must never reach an upstream, nor count against the new side's health
// (the rollout gates read Routes() counters).

// assertNothingSeen fails when any backend received a request.
func assertNothingSeen(t *testing.T, what string, bs ...*rawBackend) {
	t.Helper()
	time.Sleep(50 * time.Millisecond) // let a forwarded request arrive
	for _, b := range bs {
		if ss := b.take(); len(ss) > 0 {
			t.Errorf("%s: backend %s received %s, want nothing", what, b.name, seenTargets(ss))
		}
	}
}

func TestAdversarialSmuggleCLTE(t *testing.T) {
	legacy := newRawBackend(t, "legacy")
	addr := runProxy(t, Config{Legacy: legacy.URL()}).Addr().String()
	cl := dialRaw(t, addr)
	r, err := cl.do("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 30\r\n\r\n"+
		"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", "POST")
	if err != nil {
		t.Fatalf("Content-Length with Transfer-Encoding: no response: %v", err)
	}
	if r.Status != http.StatusBadRequest {
		t.Errorf("Content-Length with Transfer-Encoding: status %d, want 400", r.Status)
	}
	if closed, extra := cl.eof(time.Second); !closed {
		t.Errorf("Content-Length with Transfer-Encoding: connection left open (then sent %.120q)", extra)
	}
	assertNothingSeen(t, "Content-Length with Transfer-Encoding", legacy)
}

func TestAdversarialBadChunkFraming(t *testing.T) {
	legacy, newB := newRawBackend(t, "legacy"), newRawBackend(t, "new")
	reg := prometheus.NewRegistry()
	p := runProxy(t, Config{Legacy: legacy.URL(), Registerer: reg,
		Routes: []route.Spec{{Name: "api", PathPrefix: "/", New: newB.URL(), Weight: 100}}})
	addr := p.Addr().String()
	const bad = "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
	send := func(n int) {
		wrong := 0
		var first string
		for range n {
			r, err := dialRaw(t, addr).do(bad, "POST")
			if err != nil || r.Status != http.StatusBadRequest {
				if wrong++; wrong == 1 {
					first = fmt.Sprintf("%v", err)
					if err == nil {
						first = describe(r)
					}
				}
			}
		}
		if wrong > 0 {
			t.Errorf("bad chunk size: %d of %d requests not answered 400; first: %s", wrong, n, first)
		}
	}
	checkCounts := func(after string) {
		c := routeCounts(t, p, "api")
		for side, sc := range map[string]SideCount{"legacy": c.Legacy, "new": c.New} {
			if sc.Status["5xx"] != 0 || sc.UpstreamErrors != (UpstreamErrors{}) {
				t.Errorf("after %s: route api side %s counts 5xx=%d upstream errors %+v, want none (client's fault)",
					after, side, sc.Status["5xx"], sc.UpstreamErrors)
			}
		}
	}
	send(1)
	assertNothingSeen(t, "bad chunk size", legacy, newB)
	checkCounts("one badly chunked request")
	const name = "ficus_proxy_client_errors_total"
	switch v, found := metricSum(t, reg, name, map[string]string{"route": "api"}); {
	case !found:
		t.Errorf(`%s{route="api"} is not exported`, name)
	case v <= 0:
		t.Errorf(`%s{route="api"} = %v after a badly chunked request, want > 0`, name, v)
	}
	send(10)
	assertNothingSeen(t, "ten bad chunk sizes", legacy, newB)
	checkCounts("ten more badly chunked requests at weight 100")
}

func TestAdversarialSlowBody(t *testing.T) {
	legacy := newRawBackend(t, "legacy")
	addr := runProxy(t, Config{Legacy: legacy.URL(), ClientBodyTimeout: 300 * time.Millisecond}).Addr().String()
	for _, tc := range []struct{ name, raw string }{
		{"content-length", "POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc"},
		{"chunked", "POST /slow HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\na\r\nabc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := dialRaw(t, addr)
			if err := cl.send(tc.raw); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			r, err := cl.read("POST", time.Second) // the client stalls 1 s
			switch {
			case err != nil:
				t.Errorf("body stalled 1 s with ClientBodyTimeout 300ms: no response (%v), want 408", err)
			case r.Status != http.StatusRequestTimeout:
				t.Errorf("body stalled with ClientBodyTimeout 300ms: status %d after %v, want 408",
					r.Status, time.Since(start).Round(time.Millisecond))
			}
			assertNothingSeen(t, "stalled body", legacy)
		})
	}
}

func TestAdversarialOversizedBody(t *testing.T) {
	legacy := newRawBackend(t, "legacy")
	addr := runProxy(t, Config{Legacy: legacy.URL(), MaxRequestBodyBytes: 1000}).Addr().String()
	chunks := strings.Repeat("64\r\n"+strings.Repeat("y", 100)+"\r\n", 15) + "0\r\n\r\n"
	for _, tc := range []struct{ name, raw string }{
		{"content-length", "POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n" + strings.Repeat("x", 5000)},
		{"chunked", "POST /big HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := dialRaw(t, addr).do(tc.raw, "POST")
			switch {
			case err != nil:
				t.Errorf("1500-5000 byte body with MaxRequestBodyBytes 1000: no response: %v", err)
			case r.Status != http.StatusRequestEntityTooLarge:
				t.Errorf("body over MaxRequestBodyBytes 1000: status %d, want 413", r.Status)
			}
			assertNothingSeen(t, "oversized body", legacy)
		})
	}
}

// Routing decides on the path the upstream will act on. Dot segments are
// resolved before routing ("/api/orders/../../internal/admin" is
// "/internal/admin", legacy's, and forwarded as such), empty segments are
// merged. An encoded slash stays encoded: it is no separator, is matched as
// the character "/" (so "/api%2Forders/1" matches prefix /api/orders) and is
// forwarded as sent. Dot segments hidden behind encoded slashes cannot be
// resolved without guessing how the upstream decodes: refused with 400.
func TestAdversarialDotSegments(t *testing.T) {
	legacy, newB := newRawBackend(t, "legacy"), newRawBackend(t, "new")
	addr := runProxy(t, Config{Legacy: legacy.URL(),
		Routes: []route.Spec{{Name: "orders", PathPrefix: "/api/orders", New: newB.URL(), Weight: 100}}}).Addr().String()
	tests := []struct {
		target   string
		side     string // "" when ficus must refuse with 400
		wantPath string // decoded path the upstream sees
		wantURI  string // exact request target, when it matters
	}{
		{"/api/orders/../../internal/admin", "legacy", "/internal/admin", ""},
		{"/api/orders/%2e%2e/%2E%2E/internal/admin", "legacy", "/internal/admin", ""},
		{"/api//orders/./1", "new", "/api/orders/1", ""},
		{"//api/orders/1", "new", "/api/orders/1", ""},
		{"/api%2Forders/1", "new", "/api/orders/1", "/api%2Forders/1"},
		{"/api/orders%2F..%2F..%2Finternal", "", "", ""},
	}
	for _, m := range advModes {
		for _, tt := range tests {
			t.Run(m.name+tt.target, func(t *testing.T) {
				legacy.take()
				newB.take()
				r, err := dialRaw(t, addr).do(m.request("GET", tt.target), m.method("GET"))
				if err != nil {
					t.Fatalf("%s: no response: %v", tt.target, err)
				}
				if tt.side == "" {
					if r.Status != http.StatusBadRequest {
						t.Errorf("%s: status %d, want 400", tt.target, r.Status)
					}
					assertNothingSeen(t, tt.target, legacy, newB)
					return
				}
				got := map[string][]rawSeen{"legacy": legacy.take(), "new": newB.take()}
				other := "new"
				if tt.side == "new" {
					other = "legacy"
				}
				if len(got[other]) > 0 {
					t.Errorf("%s: reached %s as %s, want %s %s", tt.target, other, seenTargets(got[other]), tt.side, tt.wantPath)
				}
				ss := got[tt.side]
				switch {
				case len(ss) != 1:
					t.Errorf("%s: %s received %s, want one request for %s (client got %s)",
						tt.target, tt.side, seenTargets(ss), tt.wantPath, describe(r))
				case ss[0].Path != tt.wantPath:
					t.Errorf("%s: %s saw path %q (target %q), want %q", tt.target, tt.side, ss[0].Path, ss[0].RequestURI, tt.wantPath)
				case tt.wantURI != "" && ss[0].RequestURI != tt.wantURI:
					t.Errorf("%s: %s saw target %q, want %q", tt.target, tt.side, ss[0].RequestURI, tt.wantURI)
				}
			})
		}
	}
}

// Ficus-* request headers are ficus's own: a client cannot send them on.
func TestAdversarialForgedFicusHeaders(t *testing.T) {
	legacy, newB := newRawBackend(t, "legacy"), newRawBackend(t, "new")
	addr := runProxy(t, Config{Legacy: legacy.URL(), ServedByHeader: true,
		Routes: []route.Spec{{Name: "api", PathPrefix: "/api", New: newB.URL(), Weight: 100}}}).Addr().String()
	for _, m := range advModes {
		for _, tc := range []struct {
			target, side, route, forged string
			b                           *rawBackend
		}{
			{"/api/x", "new", "api", "legacy", newB},
			{"/other", "legacy", "default", "new", legacy},
		} {
			t.Run(m.name+tc.target, func(t *testing.T) {
				tc.b.take()
				r, err := dialRaw(t, addr).do(m.request("GET", tc.target, "Ficus-Shadow: 1",
					"Ficus-Served-By: "+tc.forged, "Ficus-Route: x", "ficus-anything: y"), m.method("GET"))
				if why := ownAnswer(r, err, m.method("GET"), tc.target); why != "" {
					t.Fatal(why)
				}
				if got := r.Header.Values("Ficus-Served-By"); len(got) != 1 || got[0] != tc.side {
					t.Errorf("Ficus-Served-By %q, want [%s]", got, tc.side)
				}
				if got := r.Header.Values("Ficus-Route"); len(got) != 1 || got[0] != tc.route {
					t.Errorf("Ficus-Route %q, want [%s]", got, tc.route)
				}
				for _, s := range tc.b.take() {
					for k, v := range s.Header {
						if strings.HasPrefix(strings.ToLower(k), "ficus-") {
							t.Errorf("client-sent %s: %q reached the %s backend", k, v, tc.side)
						}
					}
				}
			})
		}
	}
}

// The fast path sends the query ReverseProxy would (it drops unparsable
// parameters): the expectation is whatever the ReverseProxy path sent.
func TestAdversarialQueryCleaning(t *testing.T) {
	legacy := newRawBackend(t, "legacy")
	addr := runProxy(t, Config{Legacy: legacy.URL()}).Addr().String()
	query := func(m advMode, target string) string {
		legacy.take()
		r, err := dialRaw(t, addr).do(m.request("GET", target), m.method("GET"))
		if why := ownAnswer(r, err, m.method("GET"), "/q"); why != "" {
			t.Fatalf("%s %s: %s", m.name, target, why)
		}
		ss := legacy.take()
		if len(ss) != 1 {
			t.Fatalf("%s %s: backend received %s", m.name, target, seenTargets(ss))
		}
		return ss[0].RawQuery
	}
	for _, q := range []string{"a=1;b=2", "a=%zz&b=2"} {
		want := query(advModes[1], "/q?"+q)
		if got := query(advModes[0], "/q?"+q); got != want {
			t.Errorf("query %q: fast path sent %q, ReverseProxy path %q", q, got, want)
		}
	}
}

// Five requests in one write come back as five answers, in order.
func TestAdversarialPipelined(t *testing.T) {
	legacy := newRawBackend(t, "legacy")
	addr := runProxy(t, Config{Legacy: legacy.URL()}).Addr().String()
	for _, m := range advModes {
		t.Run(m.name, func(t *testing.T) {
			cl := dialRaw(t, addr)
			var all strings.Builder
			for i := range 5 {
				all.WriteString(m.request("GET", fmt.Sprintf("/pipe/%d", i)))
			}
			if err := cl.send(all.String()); err != nil {
				t.Fatal(err)
			}
			for i := range 5 {
				p := fmt.Sprintf("/pipe/%d", i)
				r, err := cl.read(m.method("GET"), rawOpTimeout)
				if why := ownAnswer(r, err, m.method("GET"), p); why != "" {
					t.Fatalf("pipelined answer %d: %s", i, why)
				}
			}
		})
	}
}
