package upstream

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

func TestMerge(t *testing.T) {
	base := DefaultTimeouts()
	tests := []struct {
		in, want Timeouts
	}{
		{Timeouts{}, base},
		{Timeouts{Connect: time.Second}, Timeouts{Connect: time.Second, ResponseHeader: base.ResponseHeader, Idle: base.Idle}},
		{Timeouts{Connect: 1, ResponseHeader: 2, Idle: 3}, Timeouts{Connect: 1, ResponseHeader: 2, Idle: 3}},
	}
	for _, tt := range tests {
		if got := tt.in.Merge(base); got != tt.want {
			t.Errorf("Merge(%+v) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
	if (Timeouts{Idle: -1}).Validate() == nil {
		t.Error("negative timeout accepted")
	}
}

func TestPoolSharesTransports(t *testing.T) {
	p := NewPool(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	a, _ := url.Parse("http://127.0.0.1:1/x")
	a2, _ := url.Parse("http://127.0.0.1:1/other/base")
	b, _ := url.Parse("http://127.0.0.1:2")
	to := DefaultTimeouts()
	ta := p.RoundTripper(Target{URL: a}, to)
	if p.RoundTripper(Target{URL: a2}, to) != ta {
		t.Fatal("same host and timeouts should share one pooled transport")
	}
	if p.RoundTripper(Target{URL: b}, to) == ta {
		t.Fatal("different hosts must not share a transport")
	}
	if p.RoundTripper(Target{URL: a}, Timeouts{Connect: 1}) == ta {
		t.Fatal("different timeouts must not share a transport")
	}
	tr := p.Transport(a.Scheme, a.Host, to)
	if tr.MaxIdleConnsPerHost != 1024 || tr.ResponseHeaderTimeout != to.ResponseHeader || tr.IdleConnTimeout != to.Idle || tr.Proxy != nil {
		t.Fatalf("transport settings %+v", tr)
	}
	p.Retain([]Use{{URL: b, Timeouts: to}})
	if p.RoundTripper(Target{URL: a}, to) == ta {
		t.Fatal("Retain should have dropped the unused transport")
	}
}

type countingHook struct{ calls []Target }

func (h *countingHook) RoundTrip(t Target, req *http.Request, next http.RoundTripper) (*http.Response, error) {
	h.calls = append(h.calls, t)
	return next.RoundTrip(req)
}

func TestHookWrapsRoundTrip(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hi") }))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	hook := &countingHook{}
	p := NewPool(Config{Hook: hook})
	defer p.CloseIdleConnections()
	rt := p.RoundTripper(Target{Route: "r", Side: "new", URL: u}, DefaultTimeouts())
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hi" || len(hook.calls) != 1 || hook.calls[0].Route != "r" || hook.calls[0].Side != "new" {
		t.Fatalf("body %q calls %+v", b, hook.calls)
	}
}

func TestPoolConns(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, _ := url.Parse("http://127.0.0.1:1")
	s, _ := url.Parse("https://127.0.0.1:1")
	to := DefaultTimeouts()
	p := NewPool(Config{Logger: quiet})
	if c := p.Conns(Target{URL: h}, to); c == nil || p.Conns(Target{URL: h}, to) != c {
		t.Fatal("http target should get one shared connection pool")
	}
	if p.Conns(Target{URL: s}, to) != nil {
		t.Error("https target must use the transport, not raw connections")
	}
	hooked := NewPool(Config{Logger: quiet, Hook: hookFunc(nil)})
	if hooked.Conns(Target{URL: h}, to) != nil {
		t.Error("with a hook every request must go through RoundTripper")
	}
}

// TestScopedHook: a Scoped hook sees only the targets it hooks; a Tapper
// keeps raw connections for them, any other hook forces RoundTripper.
func TestScopedHook(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, _ := url.Parse("http://127.0.0.1:1")
	to := DefaultTimeouts()
	tests := []struct {
		name              string
		hook              Hook
		route             string
		hooked, tap, conn bool
	}{
		{"scoped, other route", scopedHook{only: "s"}, "x", false, false, true},
		{"scoped, hooked route", scopedHook{only: "s"}, "s", true, false, false},
		{"tapper, other route", tapperHook{scopedHook{only: "s"}}, "x", false, false, true},
		{"tapper, hooked route", tapperHook{scopedHook{only: "s"}}, "s", true, true, true},
		{"unscoped hook", hookFunc(nil), "x", true, false, false},
		{"no hook", nil, "x", false, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPool(Config{Logger: quiet, Hook: tc.hook})
			tg := Target{Route: tc.route, URL: h}
			_, wrapped := p.RoundTripper(tg, to).(*hooked)
			if p.Hooked(tg) != tc.hooked || wrapped != tc.hooked || (p.Tapper(tg) != nil) != tc.tap || (p.Conns(tg, to) != nil) != tc.conn {
				t.Fatalf("hooked %v wrapped %v tapper %v conns %v, want %v %v %v %v",
					p.Hooked(tg), wrapped, p.Tapper(tg) != nil, p.Conns(tg, to) != nil, tc.hooked, tc.hooked, tc.tap, tc.conn)
			}
		})
	}
}

type scopedHook struct{ only string }

func (s scopedHook) Hooks(t Target) bool { return t.Route == s.only }
func (scopedHook) RoundTrip(_ Target, req *http.Request, next http.RoundTripper) (*http.Response, error) {
	return next.RoundTrip(req)
}

type tapperHook struct{ scopedHook }

func (tapperHook) Watches(Target, *http.Request) bool { return false }
func (tapperHook) Tap(Target, *http.Request) Tap      { return nil }

type hookFunc func()

func (hookFunc) RoundTrip(_ Target, req *http.Request, next http.RoundTripper) (*http.Response, error) {
	return next.RoundTrip(req)
}

func TestConnsIdleTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	p := NewPool(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	c := p.Conns(Target{URL: u}, Timeouts{Connect: time.Second, Idle: 50 * time.Millisecond})
	cn, err := c.Get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	c.Put(cn)
	again, err := c.Get(t.Context())
	if err != nil || again != cn || !again.Reused {
		t.Fatalf("idle connection not reused: %v", err)
	}
	c.Put(again)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		n := len(c.idle)
		c.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("idle connection not closed after the idle timeout")
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.Retain(nil)
	if fresh, err := c.Get(t.Context()); err != nil || fresh.Reused {
		t.Fatalf("after reaping, Get should dial: %v", err)
	} else {
		c.Put(fresh) // retired pool: closed, not kept
		if len(c.idle) != 0 {
			t.Error("retired pool kept a connection")
		}
	}
}
