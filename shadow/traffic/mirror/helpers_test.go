package mirror

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/proxy"
	"github.com/ficus-migrate/ficus/proxy/route"
	"github.com/ficus-migrate/ficus/shadow/traffic/record"
)

// seen is what a backend received.
type seen struct {
	Method, Path, Query, Body string
	Header                    http.Header
}

// backend is a real HTTP server on 127.0.0.1 that records its requests.
type backend struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seen
}

func newBackend(t *testing.T, h func(w http.ResponseWriter, r *http.Request)) *backend {
	t.Helper()
	b := &backend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.reqs = append(b.reqs, seen{r.Method, r.URL.Path, r.URL.RawQuery, string(body), r.Header.Clone()})
		b.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *backend) requests() []seen {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]seen(nil), b.reqs...)
}

func (b *backend) url(t *testing.T) *url.URL {
	u, err := url.Parse(b.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func jsonHandler(body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}
}

// memRecorder keeps records in memory; the NATS path is tested with a real
// server in record_e2e_test.go.
type memRecorder struct {
	mu   sync.Mutex
	recs []record.Input
}

func (r *memRecorder) Record(in record.Input) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, in)
}

func (r *memRecorder) all() []record.Input {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]record.Input(nil), r.recs...)
}

// setup runs a real proxy with the mirror as its hook; route "r" matches
// everything and sends weight % to newURL.
type setup struct {
	proxyURL string
	mirror   *Mirror
}

func start(t *testing.T, legacy, newURL *url.URL, weight float64, cfg Config, rc Route) *setup {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rc.Name = "r"
	rc.New = newURL
	cfg.Legacy = legacy
	cfg.Routes = []Route{rc}
	cfg.Logger = slog.New(slog.DiscardHandler)
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := proxy.New(proxy.Config{
		Listen: "127.0.0.1:0", Legacy: legacy, Hook: m, Logger: cfg.Logger,
		Routes: []route.Spec{{Name: "r", PathPrefix: "/", New: newURL, Weight: weight, Sticky: "none"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = p.Run(ctx) }()
	go func() { defer wg.Done(); _ = m.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	select {
	case <-p.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("proxy not ready")
	}
	return &setup{proxyURL: "http://" + p.Addr().String(), mirror: m}
}

// do sends one request through the proxy and returns status and body.
func (s *setup) do(t *testing.T, method, path, body string, hdr http.Header) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = stringsReader(body)
	}
	req, err := http.NewRequest(method, s.proxyURL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// waitFor polls cond for up to 10s; the mirror works asynchronously.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *setup) stats(t *testing.T) Stats {
	t.Helper()
	st, ok := s.mirror.Stats("r")
	if !ok {
		t.Fatal("no stats for route r")
	}
	return st
}
