package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The fast path (body-less GET/HEAD to http upstreams) must answer exactly
// as the ReverseProxy path does; each case is compared against the backend.
func TestFastPathResponses(t *testing.T) {
	legacy := newEcho(t, "legacy", func(w http.ResponseWriter, r *http.Request) bool {
		switch r.URL.Path {
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
		case "/notmodified":
			w.Header().Set("ETag", `"v1"`)
			w.WriteHeader(http.StatusNotModified)
		case "/trailer":
			w.Header().Set("Trailer", "X-Sum")
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "chunk one, ")
			_ = http.NewResponseController(w).Flush()
			_, _ = io.WriteString(w, "chunk two")
			w.Header().Set("X-Sum", "42")
		case "/big":
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", "262144")
			_, _ = io.WriteString(w, strings.Repeat("0123456789abcdef", 16<<10))
		case "/missing":
			http.Error(w, "nope", http.StatusNotFound)
		default:
			return false
		}
		return true
	})
	_, base := startProxy(t, Config{Legacy: legacy.url(t), ServedByHeader: true})
	tests := []struct {
		method, path string
		code         int
		body         string
		header       map[string]string
		trailer      map[string]string
	}{
		{"GET", "/nocontent", 204, "", nil, nil},
		{"GET", "/notmodified", 304, "", map[string]string{"Etag": `"v1"`}, nil},
		{"GET", "/trailer", 200, "chunk one, chunk two", map[string]string{"Content-Type": "text/plain"}, map[string]string{"X-Sum": "42"}},
		{"GET", "/big", 200, strings.Repeat("0123456789abcdef", 16<<10), map[string]string{"Content-Length": "262144"}, nil},
		{"GET", "/missing", 404, "nope\n", nil, nil},
		{"HEAD", "/big", 200, "", map[string]string{"Content-Length": "262144"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.method+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, base+tt.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.code || string(body) != tt.body {
				t.Fatalf("got %d %d bytes, want %d %d bytes", resp.StatusCode, len(body), tt.code, len(tt.body))
			}
			for k, v := range tt.header {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			for k, v := range tt.trailer {
				if got := resp.Trailer.Get(k); got != v {
					t.Errorf("trailer %s = %q, want %q", k, got, v)
				}
			}
			if got := resp.Header.Get("Ficus-Served-By"); got != "legacy" {
				t.Errorf("Ficus-Served-By = %q", got)
			}
		})
	}
}

// Sequential requests must share one upstream connection; a request with a
// body (ReverseProxy path) must still work next to them.
func TestFastPathReusesConnections(t *testing.T) {
	var conns atomic.Int64
	legacy := httptest.NewUnstartedServer(newEcho(t, "legacy", nil).Config.Handler)
	legacy.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	legacy.Start()
	t.Cleanup(legacy.Close)
	_, base := startProxy(t, Config{Legacy: parseURL(t, legacy.URL)})
	for i := range 20 {
		resp, err := http.Get(base + "/x")
		if err != nil {
			t.Fatal(err)
		}
		if s := decodeSeen(t, resp); s.Path != "/x" {
			t.Fatalf("request %d: path %q", i, s.Path)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("20 sequential GETs used %d upstream connections, want 1", n)
	}
	resp, err := http.Post(base+"/form", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if s := decodeSeen(t, resp); s.Method != "POST" || s.Path != "/form" {
		t.Errorf("POST reached backend as %s %s", s.Method, s.Path)
	}
}

// A backend that closes every keep-alive connection right after answering
// (without saying so) makes each reused connection stale: GETs must be
// retried on a fresh connection, never surface as 502.
func TestFastPathRetriesStaleKeepAlive(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}()
		}
	}()
	_, base := startProxy(t, Config{Legacy: parseURL(t, "http://"+ln.Addr().String())})
	for i := range 5 {
		resp, err := http.Get(base + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		time.Sleep(20 * time.Millisecond) // let the FIN arrive first
	}
	if n := accepted.Load(); n < 5 {
		t.Errorf("backend accepted %d connections for 5 requests; retries did not dial", n)
	}
}

// When the client leaves an endless stream, the upstream request must end
// too (the backend sees its context cancelled), not linger until shutdown.
func TestFastPathClientGoneReleasesUpstream(t *testing.T) {
	gone := make(chan struct{})
	legacy := newEcho(t, "legacy", func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: hello\n\n")
		_ = http.NewResponseController(w).Flush()
		select {
		case <-r.Context().Done():
			close(gone)
		case <-time.After(15 * time.Second): // never outlive a failed test
		}
		return true
	})
	_, base := startProxy(t, Config{Legacy: legacy.url(t)})
	resp, err := http.Get(base + "/events")
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "data: hello\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	resp.Body.Close()
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("upstream request still open 10 s after the client left")
	}
}
