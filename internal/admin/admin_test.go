package admin

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

func start(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	return startAt(t, cfg)
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpointsAndToken(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	s, base := start(t, Config{Token: "s3cret", Gatherer: reg})
	ready := errors.New("NATS not connected")
	s.AddCheck("nats", func(context.Context) error { return ready })
	s.Handle("GET /api/ping", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("pong")) }))

	cases := []struct {
		name, path, token string
		code              int
		body, absent      string
	}{
		{"healthz needs no token", "/healthz", "", 200, "ok", ""},
		// kubelet's probe cannot carry a Secret: it gets the verdict, not the reasons.
		{"readyz without the token: verdict only", "/readyz", "", 503, `{"ready":false}`, "NATS"},
		{"readyz with a wrong token: verdict only", "/readyz", "nope", 503, `{"ready":false}`, "NATS"},
		{"not ready names the part", "/readyz", "s3cret", 503, "NATS not connected", ""},
		{"metrics", "/metrics", "s3cret", 200, "go_goroutines", ""},
		{"metrics needs the token", "/metrics", "", 401, "", ""},
		{"mounted api", "/api/ping", "s3cret", 200, "pong", ""},
		{"mounted api needs the token", "/api/ping", "", 401, "admin token", "pong"},
		{"unknown path", "/nope", "s3cret", 404, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := get(t, base+c.path, c.token)
			if code != c.code || !strings.Contains(body, c.body) || (c.absent != "" && strings.Contains(body, c.absent)) {
				t.Fatalf("GET %s = %d %q, want %d containing %q, not %q", c.path, code, body, c.code, c.body, c.absent)
			}
		})
	}
	ready = nil
	if code, body := get(t, base+"/readyz", "s3cret"); code != 200 || !strings.Contains(body, `"ready":true`) {
		t.Fatalf("readyz after recovery = %d %s", code, body)
	}
}

func TestListenTakenNamesTheKey(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	defer l.Close()
	_, err := New(Config{Listen: l.Addr().String()})
	if err == nil || !strings.Contains(err.Error(), "admin.listen") {
		t.Fatalf("err = %v", err)
	}
}

func TestShutdownWaitsForNothingWhenIdle(t *testing.T) {
	s, err := New(Config{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// A component that is down (NATS, capture, shadow recording) degrades the
// process but never flips /readyz: only the request path's checks do.
func TestComponentsDegradeWithoutFlippingReadiness(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, base := start(t, Config{Token: "s3cret", Gatherer: reg, Registerer: reg})
	s.AddCheck("proxy", func(context.Context) error { return nil })
	natsErr := errors.New("not connected to NATS")
	s.AddComponent("nats", func(context.Context) error { return natsErr })

	cases := []struct {
		name, path, token string
		code              int
		body, absent      string
	}{
		{"readyz stays 200", "/readyz", "", 200, `{"ready":true}`, "nats"},
		{"readyz names checks, not components", "/readyz", "s3cret", 200, `"name":"proxy"`, "nats"},
		{"verbose shows the degraded component", "/readyz?verbose", "s3cret", 200, `{"name":"nats","status":"degraded","reason":"not connected to NATS"}`, ""},
		{"verbose without the token: verdict only", "/readyz?verbose", "", 200, `{"ready":true}`, "degraded"},
		{"api health", "/api/health", "s3cret", 200, `"status":"degraded"`, ""},
		{"api health needs the token", "/api/health", "", 401, "", "degraded"},
		{"metric per component", "/metrics", "s3cret", 200, `ficus_component_up{component="nats"} 0`, ""},
		{"metric per check", "/metrics", "s3cret", 200, `ficus_component_up{component="proxy"} 1`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := get(t, base+c.path, c.token)
			if code != c.code || !strings.Contains(body, c.body) || (c.absent != "" && strings.Contains(body, c.absent)) {
				t.Fatalf("GET %s = %d %q, want %d containing %q, not %q", c.path, code, body, c.code, c.body, c.absent)
			}
		})
	}
	natsErr = nil
	if code, body := get(t, base+"/api/health", "s3cret"); code != 200 || !strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("health after recovery = %d %s", code, body)
	}
}
