package mirror

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

// TestSides checks that the request goes to the side that did not serve
// it, with Ficus-Shadow: 1, for both weights, and is compared.
func TestSides(t *testing.T) {
	for _, tc := range []struct {
		name           string
		weight         float64
		served, shadow string
		wantClientBody string
	}{
		{"legacy serves, new shadows", 0, "legacy", "new", `{"v":"legacy"}`},
		{"new serves, legacy shadows", 100, "new", "legacy", `{"v":"new"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			legacy := newBackend(t, jsonHandler(`{"v":"legacy"}`))
			nw := newBackend(t, jsonHandler(`{"v":"new"}`))
			s := start(t, legacy.url(t), nw.url(t), tc.weight, Config{}, Route{Sample: 1})
			code, body := s.do(t, http.MethodGet, "/items/7?x=1", "", nil)
			if code != 200 || body != tc.wantClientBody {
				t.Fatalf("client got %d %q, want 200 %q", code, body, tc.wantClientBody)
			}
			waitFor(t, "a comparison", func() bool { return s.stats(t).Compared == 1 })
			by := map[string]*backend{"legacy": legacy, "new": nw}
			sr, pr := by[tc.shadow].requests(), by[tc.served].requests()
			if len(sr) != 1 || len(pr) != 1 {
				t.Fatalf("served side got %d requests, shadow side %d; want 1 each", len(pr), len(sr))
			}
			if got := sr[0].Header.Get("Ficus-Shadow"); got != "1" {
				t.Errorf("shadow request Ficus-Shadow = %q, want 1", got)
			}
			if pr[0].Header.Get("Ficus-Shadow") != "" {
				t.Error("the primary request carries Ficus-Shadow")
			}
			if sr[0].Path != "/items/7" || sr[0].Query != "x=1" {
				t.Errorf("shadow request for %s?%s, want /items/7?x=1", sr[0].Path, sr[0].Query)
			}
			if st := s.stats(t); st.Mismatched != 1 || st.Matched != 0 {
				t.Errorf("stats %+v, want one mismatch (bodies differ)", st)
			}
		})
	}
}

// TestMethods: unsafe methods are mirrored only with UnsafeMethods, and
// then with the body the primary sent.
func TestMethods(t *testing.T) {
	for _, tc := range []struct {
		name       string
		unsafe     bool
		method     string
		wantMirror bool
	}{
		{"GET mirrored", false, http.MethodGet, true},
		{"HEAD mirrored", false, http.MethodHead, true},
		{"POST not mirrored by default", false, http.MethodPost, false},
		{"DELETE not mirrored by default", false, http.MethodDelete, false},
		{"POST mirrored with unsafe_methods", true, http.MethodPost, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			legacy := newBackend(t, jsonHandler(`{}`))
			nw := newBackend(t, jsonHandler(`{}`))
			s := start(t, legacy.url(t), nw.url(t), 0, Config{}, Route{Sample: 1, UnsafeMethods: tc.unsafe})
			body := ""
			if tc.method == http.MethodPost {
				body = `{"order":42}`
			}
			// A safe request afterwards proves the mirror works, so that
			// "not mirrored" is not just "not yet".
			s.do(t, tc.method, "/orders", body, nil)
			s.do(t, http.MethodGet, "/ping", "", nil)
			want := 1
			if tc.wantMirror {
				want = 2
			}
			waitFor(t, "comparisons", func() bool { return s.stats(t).Compared >= uint64(want) })
			time.Sleep(50 * time.Millisecond)
			reqs := nw.requests()
			if len(reqs) != want {
				t.Fatalf("new got %d requests, want %d: %+v", len(reqs), want, reqs)
			}
			if tc.wantMirror {
				// Workers run in parallel: the two mirrors arrive in any order.
				i := slices.IndexFunc(reqs, func(r seen) bool { return r.Path == "/orders" })
				if i < 0 || reqs[i].Method != tc.method || reqs[i].Body != body {
					t.Errorf("mirrored %+v, want %s /orders %q", reqs, tc.method, body)
				}
			}
		})
	}
}

// TestShadowDownOrSlow: the client gets every answer, unchanged and
// without waiting for the shadow, which is counted as an error.
func TestShadowDownOrSlow(t *testing.T) {
	release := make(chan struct{})
	var slowHits atomic.Int32
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slowHits.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close()

	for _, tc := range []struct{ name, shadow string }{{"down", down}, {"slow", slow.URL}} {
		t.Run(tc.name, func(t *testing.T) {
			legacy := newBackend(t, jsonHandler(`{"ok":true}`))
			u, _ := url.Parse(tc.shadow)
			s := start(t, legacy.url(t), u, 0, Config{}, Route{Sample: 1, Timeout: 300 * time.Millisecond})
			const n = 5
			for i := range n {
				done := make(chan struct{})
				go func() {
					defer close(done)
					code, body := s.do(t, http.MethodGet, "/x", "", nil)
					if code != 200 || body != `{"ok":true}` {
						t.Errorf("request %d: client got %d %q", i, code, body)
					}
				}()
				select {
				case <-done:
				case <-time.After(250 * time.Millisecond):
					// The slow shadow holds its answer until the test ends;
					// the shadow timeout is 300ms; the client must not wait.
					t.Fatalf("request %d: client still waiting", i)
				}
			}
			waitFor(t, "shadow errors", func() bool { return s.stats(t).Errors == n })
			if st := s.stats(t); st.Compared != 0 || st.Mirrored != n {
				t.Errorf("stats %+v, want %d mirrored, 0 compared", st, n)
			}
		})
	}
	if slowHits.Load() == 0 {
		t.Error("the slow shadow was never asked")
	}
}

// TestQueueOverflow: with one busy worker and a queue of one, further
// mirrors are dropped and counted, and clients are unaffected.
func TestQueueOverflow(t *testing.T) {
	release := make(chan struct{})
	nw := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	legacy := newBackend(t, jsonHandler(`{}`))
	s := start(t, legacy.url(t), nw.url(t), 0, Config{Workers: 1, Queue: 1}, Route{Sample: 1, Timeout: 5 * time.Second})
	const n = 10
	for range n {
		if code, _ := s.do(t, http.MethodGet, "/", "", nil); code != 200 {
			t.Fatalf("client got %d", code)
		}
	}
	st := s.stats(t)
	close(release)
	// One job in the worker, one in the queue, at most: the rest dropped.
	if st.Mirrored+st.Dropped != n || st.Dropped < n-2 {
		t.Errorf("mirrored %d, dropped %d of %d requests; want at least %d dropped", st.Mirrored, st.Dropped, n, n-2)
	}
	waitFor(t, "the queued jobs", func() bool { return s.stats(t).Compared == st.Mirrored })
}

// TestSample0 never mirrors; TestLoop: a request already marked as a
// mirror is not mirrored again.
func TestNotMirrored(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sample float64
		hdr    http.Header
	}{
		{"sample 0", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			legacy := newBackend(t, jsonHandler(`{}`))
			nw := newBackend(t, jsonHandler(`{}`))
			s := start(t, legacy.url(t), nw.url(t), 0, Config{}, Route{Sample: tc.sample})
			for range 5 {
				s.do(t, http.MethodGet, "/", "", tc.hdr)
			}
			time.Sleep(100 * time.Millisecond)
			if got := len(nw.requests()); got != 0 || s.stats(t).Mirrored != 0 {
				t.Errorf("new got %d requests, mirrored %d; want none", got, s.stats(t).Mirrored)
			}
		})
	}
}

// A client cannot opt out of shadowing by sending Ficus-Shadow itself: the
// proxy removes inbound Ficus-* headers before the mirror sees the request.
func TestForgedShadowHeaderStillMirrored(t *testing.T) {
	legacy := newBackend(t, jsonHandler(`{}`))
	nw := newBackend(t, jsonHandler(`{}`))
	s := start(t, legacy.url(t), nw.url(t), 0, Config{}, Route{Sample: 1})
	for range 5 {
		s.do(t, http.MethodGet, "/", "", http.Header{"Ficus-Shadow": {"1"}})
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.stats(t).Mirrored < 5 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := s.stats(t).Mirrored; got != 5 {
		t.Fatalf("mirrored %d of 5 requests carrying a client-sent Ficus-Shadow", got)
	}
}

func TestPaths(t *testing.T) {
	for _, tc := range []struct {
		name, newBase, strip, add, legacyBase string
		client, wantNew                       string
	}{
		{"plain", "http://n", "", "", "", "/a/b", "/a/b"},
		{"strip and add", "http://n", "/api", "/v2", "", "/api/orders/1", "/v2/orders/1"},
		{"new base path", "http://n/base", "", "", "", "/a", "/base/a"},
		{"legacy base path", "http://n", "", "", "/old", "/a", "/a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nu, _ := url.Parse(tc.newBase)
			rs := &routeState{cfg: Route{New: nu, StripPrefix: tc.strip, AddPrefix: tc.add}}
			lu := &url.URL{Scheme: "http", Host: "l", Path: tc.legacyBase}
			newOut := rs.newPath(tc.client)
			if newOut != tc.wantNew {
				t.Errorf("newPath(%q) = %q, want %q", tc.client, newOut, tc.wantNew)
			}
			if got := rs.clientPath(sideNew, lu, newOut); got != tc.client {
				t.Errorf("clientPath(new, %q) = %q, want %q", newOut, got, tc.client)
			}
			legacyOut := joinPath(tc.legacyBase, tc.client)
			if got := rs.clientPath(sideLegacy, lu, legacyOut); got != tc.client {
				t.Errorf("clientPath(legacy, %q) = %q, want %q", legacyOut, got, tc.client)
			}
		})
	}
}
