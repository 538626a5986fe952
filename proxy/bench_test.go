package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ficus-migrate/ficus/proxy/route"
)

// BenchmarkServeHTTP measures the full in-process path (routing, rewrite,
// pooled keep-alive round trip to a loopback backend, response copy). Most
// allocations are net/http's; compare against BenchmarkDirectTransport.
func BenchmarkServeHTTP(b *testing.B) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	b.Cleanup(backend.Close)
	u := parseURL(b, backend.URL)
	p, err := New(Config{
		Legacy: u, ServedByHeader: true, Logger: quietLogger(),
		Routes: []route.Spec{
			{Name: "orders", PathPrefix: "/api/orders", New: u, Weight: 50, Sticky: "cookie:sid"},
			{Name: "api", PathPrefix: "/api", New: u, Weight: 50, StripPrefix: "/api"},
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, target string }{
		{"sticky", "/api/orders/7"},
		{"rewrite", "/api/users/1"},
		{"default", "/static/app.js"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", bc.target, nil)
			r.RemoteAddr = "127.0.0.1:5555"
			r.Header.Set("Cookie", "sid=abc")
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				p.ServeHTTP(w, r)
				if w.Code != 200 {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}

// BenchmarkDirectTransport is the floor: the same request sent straight
// through an http.Transport, without the proxy.
func BenchmarkDirectTransport(b *testing.B) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	b.Cleanup(backend.Close)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	b.Cleanup(tr.CloseIdleConnections)
	req, _ := http.NewRequest("GET", backend.URL+"/static/app.js", nil)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := tr.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
