package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// weights is a route-changing API of the shape ficus mounts
// (POST /api/routes/{name}/{action}), so the tests can tell whether a
// refused request changed anything.
type weights struct {
	mu sync.Mutex
	w  map[string]int
}

func (ws *weights) mount(s *Server) {
	s.Handle("POST /api/routes/{name}/{action}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws.mu.Lock()
		ws.w[r.PathValue("name")] = 100
		ws.mu.Unlock()
		fmt.Fprint(w, `{"weight":100}`)
	}))
	s.Handle("GET /api/ping", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("pong")) }))
}

func (ws *weights) set(name string, w int) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.w[name] = w
}

func (ws *weights) get(name string) int {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return ws.w[name]
}

type call struct {
	method, path, host, origin, ctype, token string
}

func (c call) do(t *testing.T, base string) (int, string) {
	t.Helper()
	var body io.Reader
	if c.method != http.MethodGet {
		body = strings.NewReader("weight=100")
	}
	req, err := http.NewRequest(c.method, base+c.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.host != "" {
		req.Host = c.host
	}
	if c.origin != "" {
		req.Header.Set("Origin", c.origin)
	}
	if c.ctype != "" {
		req.Header.Set("Content-Type", c.ctype)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 && resp.StatusCode != 404 {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) != nil || e.Error == "" || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: refusal %d is not JSON {\"error\": …}: %s", c.method, c.path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, string(b)
}

// startAt is start with a chosen listen address.
func startAt(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	_, port, _ := net.SplitHostPort(s.Addr())
	return s, "http://127.0.0.1:" + port
}

// A browser can be made to send anything but headers to the admin listener:
// forms from other sites, fetches from rebound names. Each must be refused
// before it changes a weight, whatever the token says.
func TestCrossSiteAndRebinding(t *testing.T) {
	const js, form = "application/json", "application/x-www-form-urlencoded"
	reg := prometheus.NewRegistry()
	s, base := start(t, Config{Token: "s3cret", Gatherer: reg, Registerer: reg,
		AllowedHosts: []string{"ficus.example", "alias.example:8443", "[fd00::5]"}})
	ws := &weights{w: map[string]int{"orders": 10}}
	ws.mount(s)
	self := strings.TrimPrefix(base, "http://")
	own := "http://" + self
	promote := "/api/routes/orders/promote"

	cases := []struct {
		name string
		call
		code    int
		reason  string // in the JSON error
		changes bool
	}{
		{"cross-site form post", call{"POST", promote, "", "http://evil.example", form, ""}, 403, "Origin", false},
		{"cross-site form post, again", call{"POST", promote, "", "http://evil.example", form, ""}, 403, "Origin", false},
		{"cross-site form post with the token", call{"POST", promote, "", "http://evil.example", form, "s3cret"}, 403, "Origin", false},
		{"same-origin form post", call{"POST", promote, "", own, form, "s3cret"}, 415, "Content-Type: application/json", false},
		{"text/plain without Origin", call{"POST", promote, "", "", "text/plain", "s3cret"}, 415, "application/json", false},
		{"multipart", call{"POST", promote, "", "", "multipart/form-data; boundary=x", "s3cret"}, 415, "application/json", false},
		{"no content type", call{"DELETE", promote, "", "", "", "s3cret"}, 415, "even without a body", false},
		{"JSON from another origin", call{"POST", promote, "", "http://evil.example", js, "s3cret"}, 403, "other sites", false},
		{"JSON from an opaque origin", call{"POST", promote, "", "null", js, "s3cret"}, 403, "Origin", false},
		{"JSON from another port", call{"POST", promote, "", "http://127.0.0.1:1", js, "s3cret"}, 403, "Origin", false},
		{"rebound name", call{"POST", promote, "evil.example:80", "http://evil.example", js, "s3cret"}, 403, "admin.allowed_hosts", false},
		{"same-origin JSON without the token", call{"POST", promote, "", own, js, ""}, 401, "admin token", false},
		{"same-origin JSON with the token", call{"POST", promote, "", own, js, "s3cret"}, 200, "", true},
		{"CLI: JSON, no Origin", call{"POST", promote, "", "", js + "; charset=utf-8", "s3cret"}, 200, "", true},
		{"allowed name, TLS-terminating proxy", call{"POST", promote, "ficus.example", "https://ficus.example", js, "s3cret"}, 200, "", true},

		{"foreign Host", call{"GET", "/api/ping", "evil.example", "", "", "s3cret"}, 403, "DNS rebinding", false},
		{"foreign Host on the page shell", call{"GET", "/", "evil.example:9901", "", "", ""}, 403, "Host", false},
		{"foreign Host on healthz", call{"GET", "/healthz", "evil.example", "", "", ""}, 403, "Host", false},
		{"localhost on another port", call{"GET", "/api/ping", "localhost:18080", "", "", "s3cret"}, 200, "", false},
		{"[::1]", call{"GET", "/api/ping", "[::1]:9901", "", "", "s3cret"}, 200, "", false},
		{"allowed name, any port", call{"GET", "/api/ping", "FICUS.example.:443", "", "", "s3cret"}, 200, "", false},
		{"allowed host:port", call{"GET", "/api/ping", "alias.example:8443", "", "", "s3cret"}, 200, "", false},
		{"allowed host:port, other port", call{"GET", "/api/ping", "alias.example:8444", "", "", "s3cret"}, 403, "Host", false},
		{"allowed IPv6", call{"GET", "/api/ping", "[fd00:0::5]:9901", "", "", "s3cret"}, 200, "", false},
		{"a name that only starts like localhost", call{"GET", "/api/ping", "localhost.evil.example", "", "", "s3cret"}, 403, "Host", false},
		{"IP literal not ours", call{"GET", "/api/ping", "10.9.8.7:9901", "", "", "s3cret"}, 403, "Host", false},
		// kubelet and Prometheus address the pod by IP.
		{"probe by pod IP", call{"GET", "/healthz", "10.9.8.7:9901", "", "", ""}, 200, "", false},
		{"readyz by pod IP", call{"GET", "/readyz", "10.9.8.7:9901", "", "", ""}, 200, "", false},
		{"scrape by pod IP", call{"GET", "/metrics", "10.9.8.7:9901", "", "", "s3cret"}, 200, "", false},
		{"metrics keep the token", call{"GET", "/metrics", "10.9.8.7:9901", "", "", ""}, 401, "admin token", false},
	}
	changed := 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ws.set("orders", 10)
			code, body := c.do(t, base)
			if code != c.code || !strings.Contains(body, c.reason) {
				t.Fatalf("%s %s (Host %q, Origin %q, Content-Type %q) = %d %s, want %d containing %q",
					c.method, c.path, c.host, c.origin, c.ctype, code, body, c.code, c.reason)
			}
			if got := ws.get("orders"); (got == 100) != c.changes {
				t.Fatalf("weight %d after the request (was 10), want changed=%v", got, c.changes)
			}
			if c.changes {
				changed++
			}
		})
	}
	if changed != 3 {
		t.Errorf("%d requests changed the weight, want 3", changed)
	}
	_, metrics := call{"GET", "/metrics", "", "", "", "s3cret"}.do(t, base)
	for _, want := range []string{
		`ficus_admin_refused_total{reason="origin"} 6`,
		`ficus_admin_refused_total{reason="content_type"} 4`,
		`ficus_admin_refused_total{reason="host"} 7`,
		`ficus_admin_refused_total{reason="token"} 2`,
		`ficus_admin_refused_total{reason="no_token"} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// Without a token, reads keep working everywhere (as before), changes only
// on loopback; on every interface the machine's own addresses stand for the
// listener's name.
func TestNoToken(t *testing.T) {
	promote := call{"POST", "/api/routes/orders/promote", "", "", "application/json", ""}
	t.Run("loopback", func(t *testing.T) {
		s, base := startAt(t, Config{Listen: "127.0.0.1:0"})
		ws := &weights{w: map[string]int{"orders": 10}}
		ws.mount(s)
		if code, body := promote.do(t, base); code != 200 || ws.get("orders") != 100 {
			t.Fatalf("JSON post on loopback without token = %d %s", code, body)
		}
		ws.set("orders", 10)
		form := call{"POST", promote.path, "", "http://evil.example", "text/plain", ""}
		if code, _ := form.do(t, base); code != 403 || ws.get("orders") != 10 {
			t.Fatalf("cross-site post on loopback without token = %d, weight %d", code, ws.get("orders"))
		}
	})
	t.Run("every interface", func(t *testing.T) {
		s, base := startAt(t, Config{Listen: "0.0.0.0:0"})
		ws := &weights{w: map[string]int{"orders": 10}}
		ws.mount(s)
		code, body := promote.do(t, base)
		if code != 403 || !strings.Contains(body, "set admin.token") || ws.get("orders") != 10 {
			t.Fatalf("JSON post without token on 0.0.0.0 = %d %s, weight %d", code, body, ws.get("orders"))
		}
		if code, body := (call{"GET", "/api/ping", "", "", "", ""}).do(t, base); code != 200 {
			t.Fatalf("read without token = %d %s", code, body)
		}
		_, port, _ := net.SplitHostPort(s.Addr())
		if code, _ := (call{"GET", "/api/ping", "0.0.0.0:" + port, "", "", ""}).do(t, base); code != 403 {
			t.Errorf("Host 0.0.0.0 = %d, want 403: it is no name of the machine", code)
		}
		ip := interfaceIP(t)
		if ip == "" {
			t.Skip("no non-loopback interface address")
		}
		if code, body := (call{"GET", "/api/ping", net.JoinHostPort(ip, port), "", "", ""}).do(t, base); code != 200 {
			t.Fatalf("Host %s (an interface address) = %d %s", ip, code, body)
		}
	})
}

func interfaceIP(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	return ""
}

func TestBadAllowedHost(t *testing.T) {
	_, err := New(Config{Listen: "127.0.0.1:0", AllowedHosts: []string{"http://ficus.example/"}})
	if err == nil || !strings.Contains(err.Error(), "admin.allowed_hosts") {
		t.Fatalf("err = %v", err)
	}
}

func TestSplitHost(t *testing.T) {
	tests := []struct {
		in, name, port string
		ok             bool
	}{
		{"Example.COM", "example.com", "", true},
		{"example.com.:80", "example.com", "80", true},
		{"[::1]:9901", "::1", "9901", true},
		{"[0:0::1]", "::1", "", true},
		{"127.0.0.1:9901", "127.0.0.1", "9901", true},
		{"[::1", "", "", false},
		{"[127.0.0.1]", "", "", false},
		{"a:b:c", "", "", false},
		{"host:0", "", "", false},
		{"host:99999", "", "", false},
		{"ev il", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		name, port, ok := splitHost(tt.in)
		if name != tt.name || port != tt.port || ok != tt.ok {
			t.Errorf("splitHost(%q) = %q, %q, %v; want %q, %q, %v", tt.in, name, port, ok, tt.name, tt.port, tt.ok)
		}
	}
}
