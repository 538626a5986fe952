package mirror

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
)

// TestMirroredHeaders: whichever way the primary exchange went (the proxy's
// fast path with a tap, or the hooked RoundTrip for bodies) and whichever
// client sends the mirror (raw connections, or a configured Transport), the
// shadow side gets the request the primary side got, plus Ficus-Shadow.
func TestMirroredHeaders(t *testing.T) {
	tests := []struct {
		name, method, body string
		transport          bool
	}{
		{"GET, fast path, raw client", http.MethodGet, "", false},
		{"POST, hooked round trip, raw client", http.MethodPost, `{"a":1}`, false},
		{"GET, fast path, configured transport", http.MethodGet, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			legacy := newBackend(t, jsonHandler(`{"v":1}`))
			nw := newBackend(t, jsonHandler(`{"v":1}`))
			cfg := Config{}
			if tc.transport {
				cfg.Transport = &http.Transport{}
			}
			s := start(t, legacy.url(t), nw.url(t), 0, cfg, Route{Sample: 1, UnsafeMethods: true})
			hdr := http.Header{"X-Trace": {"t1"}, "Accept": {"application/json"}, "X-Forwarded-For": {"10.1.1.1"},
				"Connection": {"X-Hop"}, "X-Hop": {"dropped"}}
			s.do(t, tc.method, "/items/3?full=1", tc.body, hdr)
			waitFor(t, "the comparison", func() bool { return s.stats(t).Compared == 1 })
			l, n := legacy.requests(), nw.requests()
			if len(l) != 1 || len(n) != 1 {
				t.Fatalf("legacy got %d, new %d requests", len(l), len(n))
			}
			if n[0].Header.Get(HeaderName) != "1" {
				t.Fatalf("mirror lacks %s: %v", HeaderName, n[0].Header)
			}
			n[0].Header.Del(HeaderName)
			if !tc.transport && !reflect.DeepEqual(l[0], n[0]) {
				t.Fatalf("legacy got %+v\nnew got    %+v", l[0], n[0])
			}
			if l[0].Header.Get("X-Trace") != n[0].Header.Get("X-Trace") || n[0].Header.Get("X-Hop") != "" ||
				l[0].Path != n[0].Path || l[0].Query != n[0].Query || l[0].Body != n[0].Body {
				t.Fatalf("legacy got %+v\nnew got    %+v", l[0], n[0])
			}
			if st := s.stats(t); st.Matched != 1 || st.Errors != 0 {
				t.Fatalf("stats %+v, want 1 matched", st)
			}
		})
	}
}

// TestStaleKeepAlive: a shadow side that drops every connection after its
// answer (without saying so) still gets every mirror: the raw client
// retries an idempotent request once on a fresh connection.
func TestStaleKeepAlive(t *testing.T) {
	legacy := newBackend(t, jsonHandler(`{"v":1}`))
	nw := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		conn, bw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		writeRaw(bw, `{"v":1}`)
	})
	s := start(t, legacy.url(t), nw.url(t), 0, Config{}, Route{Sample: 1})
	const n = 5
	for i := range n {
		s.do(t, http.MethodGet, "/x", "", nil)
		waitFor(t, "the comparison", func() bool { st := s.stats(t); return st.Compared+st.Errors == uint64(i+1) })
	}
	if st := s.stats(t); st.Matched != n || st.Errors != 0 {
		t.Fatalf("stats %+v, want %d matched and no errors", st, n)
	}
}

func writeRaw(bw *bufio.ReadWriter, body string) {
	fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	_ = bw.Flush()
}

// TestPipelinedBacklog: when the mirror is behind, a worker pipelines the
// backlog on one connection to a side that has earned it (one of its
// connections came back clean from a rest); every answer is still matched
// with its own request (answers echo the path, so one out of order would
// mismatch), and a side that closes the connection midway loses no mirror.
func TestPipelinedBacklog(t *testing.T) {
	for _, closeEvery := range []int{0, 5} {
		t.Run(fmt.Sprintf("close every %d", closeEvery), func(t *testing.T) {
			echo := func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"path":%q}`, r.URL.Path)
			}
			gate := make(chan struct{})
			var mu sync.Mutex
			served := 0
			legacy := newBackend(t, echo)
			nw := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				served++
				closing := closeEvery > 0 && served%closeEvery == 0
				mu.Unlock()
				if r.URL.Path == "/hold" {
					<-gate // hold the only worker so the queue backs up
				}
				if closing {
					w.Header().Set("Connection", "close")
				}
				echo(w, r)
			}))
			reads := &readCounter{Listener: nw.Listener}
			nw.Listener = reads
			nw.Start()
			t.Cleanup(nw.Close)
			nwURL, _ := url.Parse(nw.URL)
			quickTrust(t)
			s := start(t, legacy.url(t), nwURL, 0, Config{Workers: 1}, Route{Sample: 1})
			earnTrust(t, s, nwURL, "/warm")
			s.do(t, http.MethodGet, "/hold", "", nil)
			const n = 40
			for i := range n {
				s.do(t, http.MethodGet, fmt.Sprintf("/orders/%d", i), "", nil)
			}
			close(gate)
			const all = n + 3 // with two /warm and /hold
			waitFor(t, "every comparison", func() bool { st := s.stats(t); return st.Compared+st.Errors == all })
			if st := s.stats(t); st.Matched != all || st.Errors != 0 {
				t.Fatalf("stats %+v, want %d matched, no errors", st, all)
			}
			mu.Lock()
			defer mu.Unlock()
			if served != all {
				t.Fatalf("new side served %d requests, want %d", served, all)
			}
			// One by one, every request is at least one read on the side;
			// pipelined, a batch arrives in one.
			if closeEvery == 0 && reads.n.Load() > all/2 {
				t.Fatalf("%d requests took %d reads: the backlog was not pipelined", n, reads.n.Load())
			}
		})
	}
}

// readCounter counts the reads that brought data on accepted connections.
type readCounter struct {
	net.Listener
	n atomic.Int64
}

func (l *readCounter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countedConn{Conn: c, n: &l.n}, nil
}

type countedConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.n.Add(1)
	}
	return n, err
}
