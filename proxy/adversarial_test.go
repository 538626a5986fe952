package proxy

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Adversarial backends. The invariant everywhere: each client receives the
// answer the backend produced for its own request, or an error ficus made
// itself; never bytes the backend sent unasked ("STRAY"), never another
// client's answer. Every case runs on both the fast path and the
// ReverseProxy path (see advMode); rawpeer_test.go has the raw peers.

// strayCases are the backends that leave bytes on the connection after a
// valid answer.
var strayCases = []struct {
	behaviour string
	method    string
}{
	{"second", "GET"}, {"second-late", "GET"},
	{"headbody", "HEAD"}, {"headbody-late", "HEAD"},
	{"204body", "GET"}, {"304body", "GET"}, {"overrun", "GET"},
}

// Client A's request is answered with trailing bytes; B and C, on other
// client connections, then get ficus's pooled upstream connection and must
// each get their own answer.
func TestAdversarialStrayAfterAnswer(t *testing.T) {
	for _, m := range advModes {
		for _, tc := range strayCases {
			t.Run(m.name+"/"+tc.behaviour, func(t *testing.T) {
				legacy := newRawBackend(t, "legacy")
				addr := runProxy(t, Config{Legacy: legacy.URL()}).Addr().String()
				pa, method := "/a/"+tc.behaviour, m.method(tc.method)
				a := dialRaw(t, addr)
				r, err := a.do(m.request(tc.method, pa), method)
				if why := ownOrError(r, err, method, pa); why != "" {
					t.Errorf("client A (%s %s): %s", method, pa, why)
				}
				time.Sleep(50 * time.Millisecond) // a late stray is on the idle connection by now
				for _, name := range []string{"b", "c"} {
					p := "/" + name + "/normal"
					cl := dialRaw(t, addr)
					r, err := cl.do(m.request("GET", p), m.method("GET"))
					if why := ownAnswer(r, err, m.method("GET"), p); why != "" {
						t.Errorf("client %s after A's %s: %s", strings.ToUpper(name), tc.behaviour, why)
					}
					if n := cl.strays(); n > 0 {
						t.Errorf("client %s received %d STRAY bytes: %.200q", strings.ToUpper(name), n, cl.got.Bytes())
					}
				}
			})
		}
	}
}

// 8 clients x 200 requests mixing normal and misbehaving answers. Only the
// same-write misbehaviours are mixed in: a stray written 20 ms late can land
// after ficus wrote the next request on the connection, and then no proxy
// can tell it from that request's answer.
func TestAdversarialStrayConcurrent(t *testing.T) {
	mix := []string{"normal", "second", "normal", "headbody", "normal", "204body", "normal", "304body", "normal", "overrun"}
	const clients, perClient = 8, 200
	for _, m := range advModes {
		t.Run(m.name, func(t *testing.T) {
			legacy := newRawBackend(t, "legacy")
			addr := runProxy(t, Config{Legacy: legacy.URL()}).Addr().String()
			var (
				mu       sync.Mutex
				failures []string
				strays   int
				wg       sync.WaitGroup
			)
			fail := func(s string) {
				mu.Lock()
				failures = append(failures, s)
				mu.Unlock()
			}
			for ci := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var cl *rawClient
					done := func() {
						if cl != nil {
							mu.Lock()
							strays += cl.strays()
							mu.Unlock()
							_ = cl.c.Close()
							cl = nil
						}
					}
					defer done()
					for ri := range perClient {
						if cl == nil {
							var err error
							if cl, err = openRaw(addr); err != nil {
								fail(fmt.Sprintf("client %d: dial: %v", ci, err))
								return
							}
						}
						b := mix[(ci+ri)%len(mix)]
						method := "GET"
						if b == "headbody" {
							method = "HEAD"
						}
						p := fmt.Sprintf("/c%d/r%d/%s", ci, ri, b)
						r, err := cl.do(m.request(method, p), m.method(method))
						if why := ownOrError(r, err, m.method(method), p); why != "" {
							fail(fmt.Sprintf("client %d %s %s: %s", ci, m.method(method), p, why))
						}
						if err != nil || r.Close || r.BodyErr != nil {
							done()
						}
					}
				}()
			}
			wg.Wait()
			if strays > 0 {
				t.Errorf("clients received STRAY bytes %d times", strays)
			}
			if len(failures) > 0 {
				t.Errorf("%d of %d requests broke the invariant; first: %s", len(failures), clients*perClient,
					strings.Join(failures[:min(3, len(failures))], "; "))
			}
		})
	}
}

// A valid answer written in pieces 10 ms apart arrives intact.
func TestAdversarialSplitAnswer(t *testing.T) {
	for _, m := range advModes {
		t.Run(m.name, func(t *testing.T) {
			legacy := newRawBackend(t, "legacy")
			addr := runProxy(t, Config{Legacy: legacy.URL()}).Addr().String()
			for _, p := range []string{"/s1/split", "/s2/split"} { // the second on a reused connection
				r, err := dialRaw(t, addr).do(m.request("GET", p), m.method("GET"))
				if why := ownAnswer(r, err, m.method("GET"), p); why != "" {
					t.Errorf("%s: %s", p, why)
				}
			}
		})
	}
}

// A 2 MiB response head is refused with a 502 without ficus buffering it.
func TestAdversarialHugeResponseHeader(t *testing.T) {
	for _, m := range advModes {
		t.Run(m.name, func(t *testing.T) {
			legacy := newRawBackend(t, "legacy")
			addr := runProxy(t, Config{Legacy: legacy.URL(), MaxResponseHeaderBytes: 1 << 20}).Addr().String()
			if r, err := dialRaw(t, addr).do(m.request("GET", "/warm"), m.method("GET")); err != nil {
				t.Fatalf("warm-up: %v", err)
			} else if why := ownAnswer(r, nil, m.method("GET"), "/warm"); why != "" {
				t.Fatalf("warm-up: %s", why)
			}
			cl := dialRaw(t, addr)
			stop := heapPeak()
			err := cl.send(m.request("GET", "/h/hugeheader"))
			if err == nil {
				// Sample only until ficus starts answering: the client
				// reading a relayed 2 MiB head would count too.
				_ = cl.c.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, err = cl.br.Peek(1)
			}
			grew := stop()
			if err != nil {
				t.Fatalf("no answer to a 2 MiB response head: %v", err)
			}
			r, err := cl.read(m.method("GET"), 10*time.Second)
			switch {
			case err != nil:
				t.Errorf("reading the answer to a 2 MiB response head: %v", err)
			case r.Status != http.StatusBadGateway || !isFicusError(r, m.method("GET")):
				t.Errorf("2 MiB response head with MaxResponseHeaderBytes 1 MiB: got status %d (%d header fields), want a 502 JSON error",
					r.Status, len(r.Header))
			}
			t.Logf("heap in use rose %.1f MiB", float64(grew)/(1<<20))
			if grew > 20<<20 {
				t.Errorf("heap in use rose %.1f MiB while ficus read a 2 MiB response head, want < 20 MiB", float64(grew)/(1<<20))
			}
			r, err = dialRaw(t, addr).do(m.request("GET", "/next"), m.method("GET"))
			if why := ownAnswer(r, err, m.method("GET"), "/next"); why != "" {
				t.Errorf("request after the huge head: %s", why)
			}
		})
	}
}

// A backend that closes mid-body must not produce a complete-looking answer.
func TestAdversarialCloseMidBody(t *testing.T) {
	for _, m := range advModes {
		t.Run(m.name, func(t *testing.T) {
			legacy := newRawBackend(t, "legacy")
			addr := runProxy(t, Config{Legacy: legacy.URL()}).Addr().String()
			r, err := dialRaw(t, addr).do(m.request("GET", "/m/closemid"), m.method("GET"))
			if err == nil && r.Status < 400 && r.BodyErr == nil {
				t.Errorf("backend closed after 100 of 1000 body bytes, client got a complete-looking answer: status %d, %d-byte body",
					r.Status, len(r.Body))
			}
			r, err = dialRaw(t, addr).do(m.request("GET", "/next"), m.method("GET"))
			if why := ownAnswer(r, err, m.method("GET"), "/next"); why != "" {
				t.Errorf("request after the truncated one: %s", why)
			}
		})
	}
}

// A connection found holding unsolicited bytes is counted when discarded.
func TestAdversarialDiscardMetric(t *testing.T) {
	legacy := newRawBackend(t, "legacy")
	reg := prometheus.NewRegistry()
	addr := runProxy(t, Config{Legacy: legacy.URL(), Registerer: reg}).Addr().String()
	r, err := dialRaw(t, addr).do(fastGet("/a/second-late"), "GET")
	if why := ownAnswer(r, err, "GET", "/a/second-late"); why != "" {
		t.Errorf("client A: %s", why)
	}
	time.Sleep(50 * time.Millisecond)
	r, err = dialRaw(t, addr).do(fastGet("/b/normal"), "GET")
	if why := ownAnswer(r, err, "GET", "/b/normal"); why != "" {
		t.Errorf("client B: %s", why)
	}
	const name = "ficus_proxy_upstream_conns_discarded_total"
	switch v, found := metricSum(t, reg, name, map[string]string{"reason": "unsolicited"}); {
	case !found:
		t.Errorf(`%s{reason="unsolicited"} is not exported`, name)
	case v <= 0:
		t.Errorf(`%s{reason="unsolicited"} = %v after a backend sent a late second response, want > 0`, name, v)
	}
}

func fastGet(target string) string { return advModes[0].request("GET", target) }

// Informational answers must not cost the final one its ficus headers.
func TestAdversarialEarlyHintsKeepServedBy(t *testing.T) {
	for _, m := range advModes {
		t.Run(m.name, func(t *testing.T) {
			legacy := newRawBackend(t, "legacy")
			addr := runProxy(t, Config{Legacy: legacy.URL(), ServedByHeader: true}).Addr().String()
			r, err := dialRaw(t, addr).do(m.request("GET", "/e/early"), m.method("GET"))
			if why := ownAnswer(r, err, m.method("GET"), "/e/early"); why != "" {
				t.Fatalf("after 103: %s", why)
			}
			if len(r.Interim) == 0 {
				t.Logf("the 103 was not passed on (allowed)")
			}
			if got := r.Header.Values("Ficus-Served-By"); len(got) != 1 || got[0] != "legacy" {
				t.Errorf("final response after a 103: Ficus-Served-By %q, want [legacy]", got)
			}
			if got := r.Header.Values("Ficus-Route"); len(got) != 1 || got[0] != "default" {
				t.Errorf("final response after a 103: Ficus-Route %q, want [default]", got)
			}
		})
	}
}

// A chunked answer without Content-Type must not gain a sniffed one.
func TestAdversarialChunkedNoContentType(t *testing.T) {
	for _, m := range advModes {
		t.Run(m.name, func(t *testing.T) {
			legacy := newRawBackend(t, "legacy")
			addr := runProxy(t, Config{Legacy: legacy.URL()}).Addr().String()
			r, err := dialRaw(t, addr).do(m.request("GET", "/t/chunked-notype"), m.method("GET"))
			if why := ownAnswer(r, err, m.method("GET"), "/t/chunked-notype"); why != "" {
				t.Fatal(why)
			}
			if ct, ok := r.Header["Content-Type"]; ok {
				t.Errorf("backend sent no Content-Type, client got Content-Type %q", ct)
			}
		})
	}
}

// runProxy runs a proxy on a loopback port until the test ends. Unlike
// startProxy it accepts any testing.TB (fuzz targets) and drains briefly.
func runProxy(tb testing.TB, cfg Config) *Proxy {
	tb.Helper()
	cfg.Listen = "127.0.0.1:0"
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 2 * time.Second
	}
	p, _ := startProxy(tb, cfg)
	return p
}

// metricSum sums a counter (or a histogram's sample count) over every series
// carrying at least these labels; found is false when no series does.
func metricSum(tb testing.TB, g prometheus.Gatherer, name string, labels map[string]string) (sum float64, found bool) {
	tb.Helper()
	mfs, err := g.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue series
				}
			}
			found = true
			if h := m.GetHistogram(); h != nil {
				sum += float64(h.GetSampleCount())
			} else {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum, found
}

// routeCounts returns the admin counters of the named route.
func routeCounts(tb testing.TB, p *Proxy, name string) RouteCount {
	tb.Helper()
	for _, ri := range p.Routes() {
		if ri.Name == name {
			return ri.Counts
		}
	}
	tb.Fatalf("route %q not in Routes()", name)
	return RouteCount{}
}

// heapPeak samples HeapInuse every 2 ms from a GC'd baseline until stop,
// which returns how far the heap rose above the baseline.
func heapPeak() (stop func() uint64) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	quit, peak := make(chan struct{}), make(chan uint64, 1)
	go func() {
		var ms runtime.MemStats
		high := base
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			high = max(high, ms.HeapInuse)
			select {
			case <-quit:
				peak <- high
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(quit)
		return <-peak - base
	}
}
