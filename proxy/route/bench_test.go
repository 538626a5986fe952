package route

import (
	"net/http/httptest"
	"testing"
)

func BenchmarkTableRoute(b *testing.B) {
	u := mustURL(b, "http://127.0.0.1:9")
	tab := mustCompile(b, []Spec{
		{Name: "users", PathRegex: `^/users/[0-9]+$`, New: u, Weight: 50},
		{Name: "write", PathPrefix: "/api/orders", Methods: []string{"POST"}, New: u, Weight: 50},
		{Name: "orders", PathPrefix: "/api/orders", New: u, Weight: 25, Sticky: "cookie:sid"},
		{Name: "api", PathPrefix: "/api", New: u, Weight: 50},
	})
	for _, bc := range []struct{ name, target, cookie string }{
		{"sticky-cookie", "/api/orders/7", "a=1; sid=abc123"},
		{"random", "/api/other", ""},
		{"unmatched", "/static/app.js", ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", bc.target, nil)
			if bc.cookie != "" {
				r.Header.Set("Cookie", bc.cookie)
			}
			b.ReportAllocs()
			for b.Loop() {
				_ = tab.Route(r)
			}
		})
	}
}
