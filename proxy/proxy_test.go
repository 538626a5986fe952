package proxy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ficus-migrate/ficus/proxy/route"
	"github.com/ficus-migrate/ficus/proxy/upstream"
)

func TestRoutingAndHeaders(t *testing.T) {
	legacy := newEcho(t, "legacy", nil)
	newB := newEcho(t, "new", func(w http.ResponseWriter, r *http.Request) bool {
		// A backend trying to spoof the served-by header, plus a
		// response hop-by-hop header that must not reach the client.
		w.Header().Set("Ficus-Served-By", "legacy")
		w.Header().Set("Connection", "X-Resp-Hop")
		w.Header().Set("X-Resp-Hop", "1")
		return false
	})
	reg := prometheus.NewRegistry()
	_, base := startProxy(t, Config{
		Legacy:         legacy.url(t),
		ServedByHeader: true,
		Registerer:     reg,
		Routes: []route.Spec{
			{Name: "api", PathPrefix: "/api", New: newB.url(t), Weight: 100, StripPrefix: "/api", AddPrefix: "/v2"},
			{Name: "legacy-only", PathPrefix: "/old", New: newB.url(t), Weight: 0},
			{Name: "based", PathPrefix: "/based", New: parseURL(t, newB.URL+"/nb"), Weight: 100},
		},
	})
	tests := []struct {
		path, wantBackend, wantRoute, wantPath string
	}{
		{"/api/orders/7?x=1", "new", "api", "/v2/orders/7"},
		{"/api", "new", "api", "/v2"},
		{"/old/thing", "legacy", "legacy-only", "/old/thing"},
		{"/based/x", "new", "based", "/nb/based/x"},
		{"/static/app.js", "legacy", "default", "/static/app.js"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			req, _ := http.NewRequest("GET", base+tt.path, nil)
			req.Header.Set("X-Forwarded-For", "203.0.113.9")
			req.Header.Set("Connection", "X-Req-Hop")
			req.Header.Set("X-Req-Hop", "secret-hop")
			req.Header.Set("Proxy-Authorization", "Basic Zm9vOmJhcg==")
			req.Header.Set("X-Keep", "kept")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Header.Values("Ficus-Served-By"); len(got) != 1 || got[0] != tt.wantBackend {
				t.Errorf("Ficus-Served-By = %q, want %q", got, tt.wantBackend)
			}
			if got := resp.Header.Get("Ficus-Route"); got != tt.wantRoute {
				t.Errorf("Ficus-Route = %q, want %q", got, tt.wantRoute)
			}
			if resp.Header.Get("X-Resp-Hop") != "" {
				t.Error("response hop-by-hop header leaked to client")
			}
			s := decodeSeen(t, resp)
			if s.Backend != tt.wantBackend || s.Path != tt.wantPath {
				t.Errorf("backend %q path %q, want %q %q", s.Backend, s.Path, tt.wantBackend, tt.wantPath)
			}
			if got := s.Header.Get("X-Forwarded-For"); got != "203.0.113.9, 127.0.0.1" {
				t.Errorf("X-Forwarded-For = %q", got)
			}
			if got := s.Header.Get("X-Forwarded-Proto"); got != "http" {
				t.Errorf("X-Forwarded-Proto = %q", got)
			}
			if got := s.Header.Get("X-Forwarded-Host"); got != strings.TrimPrefix(base, "http://") {
				t.Errorf("X-Forwarded-Host = %q", got)
			}
			for _, h := range []string{"X-Req-Hop", "Proxy-Authorization"} {
				if v := s.Header.Get(h); v != "" {
					t.Errorf("hop-by-hop %s reached backend: %q", h, v)
				}
			}
			if s.Header.Get("X-Keep") != "kept" {
				t.Error("end-to-end header dropped")
			}
		})
	}
	lbl := map[string]string{"route": "api", "side": "new", "code_class": "2xx"}
	if got := metricValue(t, reg, "ficus_proxy_requests_total", lbl); got != 2 {
		t.Errorf("requests_total{api,new,2xx} = %v, want 2", got)
	}
	lbl = map[string]string{"route": "default", "side": "legacy"}
	if got := metricValue(t, reg, "ficus_proxy_request_duration_seconds", lbl); got != 1 {
		t.Errorf("duration count{default,legacy} = %v, want 1", got)
	}
}

func TestServedByHeaderOff(t *testing.T) {
	legacy := newEcho(t, "legacy", nil)
	_, base := startProxy(t, Config{Legacy: legacy.url(t)})
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Ficus-Served-By") != "" || resp.Header.Get("Ficus-Route") != "" {
		t.Fatalf("served-by headers present although disabled: %v", resp.Header)
	}
}

func TestUpstreamErrors(t *testing.T) {
	legacy := newEcho(t, "legacy", nil)
	release := make(chan struct{})
	slow := newEcho(t, "slow", func(w http.ResponseWriter, r *http.Request) bool {
		select { // hold the response headers until the proxy gives up
		case <-r.Context().Done():
		case <-release:
		}
		return true
	})
	t.Cleanup(func() { close(release) })
	reg := prometheus.NewRegistry()
	_, base := startProxy(t, Config{
		Legacy:         legacy.url(t),
		ServedByHeader: true,
		Registerer:     reg,
		Routes: []route.Spec{
			{Name: "down", PathPrefix: "/down", New: closedURL(t), Weight: 100},
			{Name: "slow", PathPrefix: "/slow", New: slow.url(t), Weight: 100,
				Timeouts: upstream.Timeouts{ResponseHeader: 200 * time.Millisecond}},
		},
	})
	tests := []struct {
		path, route, kind, msg string
		code                   int
	}{
		{"/down/x", "down", "unreachable", "upstream unreachable", http.StatusBadGateway},
		{"/slow/x", "slow", "timeout", "upstream timeout", http.StatusGatewayTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.route, func(t *testing.T) {
			resp, err := http.Get(base + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.code)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var body map[string]string
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"error": tt.msg, "route": tt.route, "upstream": "new"}
			if fmt.Sprint(body) != fmt.Sprint(want) {
				t.Errorf("body %v, want %v", body, want)
			}
			if resp.Header.Get("Ficus-Served-By") != "new" {
				t.Errorf("served-by %q", resp.Header.Get("Ficus-Served-By"))
			}
			lbl := map[string]string{"route": tt.route, "side": "new", "kind": tt.kind}
			if got := metricValue(t, reg, "ficus_proxy_upstream_errors_total", lbl); got != 1 {
				t.Errorf("upstream_errors_total%v = %v, want 1", lbl, got)
			}
			lbl = map[string]string{"route": tt.route, "side": "new", "code_class": "5xx"}
			if got := metricValue(t, reg, "ficus_proxy_requests_total", lbl); got != 1 {
				t.Errorf("requests_total%v = %v, want 1", lbl, got)
			}
		})
	}
}

// rawExchange writes raw bytes to the proxy and returns the status line.
func rawExchange(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("read status line: %v", err)
	}
	return strings.TrimSpace(line)
}

func TestMalformedRequests(t *testing.T) {
	legacy := newEcho(t, "legacy", nil)
	newB := newEcho(t, "new", nil)
	p, _ := startProxy(t, Config{
		Legacy: legacy.url(t),
		Routes: []route.Spec{{Name: "all", PathPrefix: "/", New: newB.url(t), Weight: 50}},
	})
	addr := p.Addr().String()
	tests := []struct{ name, raw, want string }{
		{"garbage line", "THIS IS NOT HTTP\r\n\r\n", "400"},
		{"bad version", "GET / HTTP/x.y\r\nHost: a\r\n\r\n", "400"},
		{"header without colon", "GET / HTTP/1.1\r\nHost: a\r\nBrokenHeader\r\n\r\n", "400"},
		{"missing host", "GET / HTTP/1.1\r\n\r\n", "400"},
		{"relative target", "GET foo HTTP/1.1\r\nHost: a\r\n\r\n", "400"},
		{"conflicting lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "400"},
		{"unknown coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, identity\r\n\r\n", "501"},
		{"connect", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", "400"},
		// net/http answers "OPTIONS *" itself; it must not be forwarded.
		{"asterisk", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rawExchange(t, addr, tt.raw); !strings.HasPrefix(got, "HTTP/1.1 "+tt.want) {
				t.Fatalf("status line %q, want %s", got, tt.want)
			}
		})
	}
	if n := legacy.hits.Load() + newB.hits.Load(); n != 0 {
		t.Fatalf("malformed requests reached upstreams %d times", n)
	}
	// The same connection path works for a well-formed request.
	if got := rawExchange(t, addr, "GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"); got != "HTTP/1.1 200 OK" {
		t.Fatalf("valid request: %q", got)
	}
}

func TestHeaderSizeLimit(t *testing.T) {
	legacy := newEcho(t, "legacy", nil)
	p, _ := startProxy(t, Config{Legacy: legacy.url(t), MaxHeaderBytes: 8 << 10})
	addr := p.Addr().String()
	// net/http allows 4 KiB of slack over MaxHeaderBytes; 64 KiB is clearly over.
	big := strings.Repeat("a", 64<<10)
	if got := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: "+big+"\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 431") {
		t.Fatalf("oversized headers: %q, want 431", got)
	}
	if legacy.hits.Load() != 0 {
		t.Fatal("oversized request reached the upstream")
	}
	small := strings.Repeat("a", 2<<10)
	if got := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nX-Small: "+small+"\r\nConnection: close\r\n\r\n"); got != "HTTP/1.1 200 OK" {
		t.Fatalf("normal headers: %q", got)
	}
}

type recordingHook struct{ targets chan upstream.Target }

func (h *recordingHook) RoundTrip(t upstream.Target, req *http.Request, next http.RoundTripper) (*http.Response, error) {
	h.targets <- t
	return next.RoundTrip(req)
}

func TestHook(t *testing.T) {
	legacy := newEcho(t, "legacy", nil)
	newB := newEcho(t, "new", nil)
	hook := &recordingHook{targets: make(chan upstream.Target, 4)}
	_, base := startProxy(t, Config{
		Legacy: legacy.url(t), Hook: hook,
		Routes: []route.Spec{{Name: "api", PathPrefix: "/api", New: newB.url(t), Weight: 100}},
	})
	for _, tc := range []struct{ path, route, side string }{{"/api/x", "api", "new"}, {"/x", "default", "legacy"}} {
		resp, err := http.Get(base + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := <-hook.targets
		if got.Route != tc.route || got.Side != tc.side {
			t.Fatalf("hook saw %s/%s, want %s/%s", got.Route, got.Side, tc.route, tc.side)
		}
	}
}

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no legacy", Config{}, "legacy URL is required"},
		{"relative legacy", Config{Legacy: parseURL(t, "/x")}, "absolute"},
		{"userinfo", Config{Legacy: parseURL(t, "http://u:hunter2@127.0.0.1")}, "user info"},
		{"bad route", Config{Legacy: parseURL(t, "http://127.0.0.1"), Routes: []route.Spec{{Name: "x"}}}, "new URL is required"},
		{"negative timeout", Config{Legacy: parseURL(t, "http://127.0.0.1"), Timeouts: upstream.Timeouts{Connect: -1}}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatal("password leaked into error")
			}
		})
	}
}

func TestGracefulShutdown(t *testing.T) {
	slow := newEcho(t, "legacy", func(w http.ResponseWriter, r *http.Request) bool {
		time.Sleep(300 * time.Millisecond)
		return false
	})
	p, err := New(Config{Listen: "127.0.0.1:0", Legacy: slow.url(t), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := contextWithCancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	<-p.Ready()
	respc := make(chan error, 1)
	go func() {
		resp, err := http.Get("http://" + p.Addr().String() + "/")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != 200 {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		respc <- err
	}()
	for slow.hits.Load() == 0 { // wait until the request is in flight
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-respc; err != nil {
		t.Fatalf("in-flight request failed during shutdown: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := p.Run(ctx); err == nil {
		t.Fatal("second Run should fail")
	}
}
