package upstream

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// strayTLSServer is an https backend that answers each request with
// "answer:<path>" and, for paths ending in /stray (same write) or
// /stray-late (a separate write 20 ms later), a second response nobody asked
// for. It speaks raw HTTP/1.1 on hijacked connections.
func strayTLSServer(t *testing.T) (*httptest.Server, *tls.Config) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		for req := r; ; {
			body := "answer:" + req.URL.Path
			out := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			stray := "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nSTRAY"
			switch {
			case strings.HasSuffix(req.URL.Path, "/stray"):
				out += stray
			case strings.HasSuffix(req.URL.Path, "/stray-late"):
				_, _ = brw.WriteString(out)
				_ = brw.Flush()
				time.Sleep(20 * time.Millisecond)
				out = stray
			}
			_, _ = brw.WriteString(out)
			if brw.Flush() != nil {
				return
			}
			if req, err = http.ReadRequest(brw.Reader); err != nil {
				return
			}
		}
	}))
	srv.EnableHTTP2 = false
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	return srv, &tls.Config{RootCAs: roots}
}

// https backends get the same reuse rules as plain-http ones: a stray
// answer, in the same TLS write or later, never reaches another request.
func TestTLSConnsNeverHandStrayAnswers(t *testing.T) {
	srv, tlsConf := strayTLSServer(t)
	var discarded atomic.Int64
	p := NewPool(Config{TLSClientConfig: tlsConf, OnDiscard: func(string) { discarded.Add(1) }})
	u, _ := url.Parse(srv.URL)
	rt := p.RoundTripper(Target{URL: u}, DefaultTimeouts())
	get := func(path string) string {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			return "error: " + err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	for _, mis := range []string{"/a/stray", "/a/stray-late"} {
		if got := get(mis); got != "answer:"+mis {
			t.Fatalf("%s: got %q", mis, got)
		}
		time.Sleep(60 * time.Millisecond) // a late stray arrives while idle
		for _, next := range []string{"/b", "/c"} {
			if got := get(next); got != "answer:"+next {
				t.Fatalf("after %s, %s got %q", mis, next, got)
			}
		}
	}
	if discarded.Load() < 2 {
		t.Fatalf("%d connections discarded, want one per stray", discarded.Load())
	}
	// Concurrent clients, strays in the same write: every answer is the
	// client's own (http.Transport failed this: it pools the connection
	// before it peeks for the stray).
	var wg sync.WaitGroup
	var bad atomic.Int64
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				path := fmt.Sprintf("/c%d/r%d", c, i)
				if i%3 == 0 {
					path += "/stray"
				}
				if got := get(path); got != "answer:"+path {
					bad.Add(1)
					t.Errorf("%s got %q", path, got)
				}
			}
		}()
	}
	wg.Wait()
	if bad.Load() > 0 {
		t.Fatalf("%d of 400 answers were not the client's own", bad.Load())
	}
}
