package proxy

import (
	"bytes"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/proxy/route"
	"github.com/ficus-migrate/ficus/proxy/upstream"
)

// tappingHook hooks the routes in hooked only, and watches their fast-path
// exchanges; each finished exchange (tapped or round-tripped) is reported.
type tappingHook struct {
	hooked map[string]bool
	events chan tapEvent
}

type tapEvent struct {
	via      string // "tap" or "roundtrip"
	target   upstream.Target
	out      *http.Request
	status   int
	header   http.Header
	body     []byte
	complete bool
}

func (h *tappingHook) Hooks(t upstream.Target) bool { return h.hooked[t.Route] }

func (h *tappingHook) Watches(t upstream.Target, in *http.Request) bool {
	return in.Header.Get("X-No-Tap") == ""
}

func (h *tappingHook) Tap(t upstream.Target, out *http.Request) upstream.Tap {
	return &recTap{ev: tapEvent{via: "tap", target: t, out: out}, events: h.events}
}

func (h *tappingHook) RoundTrip(t upstream.Target, req *http.Request, next http.RoundTripper) (*http.Response, error) {
	resp, err := next.RoundTrip(req)
	h.events <- tapEvent{via: "roundtrip", target: t, out: req, complete: err == nil}
	return resp, err
}

type recTap struct {
	mu     sync.Mutex
	ev     tapEvent
	events chan tapEvent
}

func (r *recTap) Response(status int, h http.Header) { r.ev.status, r.ev.header = status, h }
func (r *recTap) Write(p []byte)                     { r.ev.body = append(r.ev.body, p...) }
func (r *recTap) Done(complete bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ev.complete = complete
	r.events <- r.ev
}

// TestTapper: a Scoped Tapper hook watches the fast-path exchanges of the
// routes it hooks, sees the request exactly as the upstream received it and
// the answer as the client got it; other routes never reach it, and
// requests with a body still take the hooked RoundTrip.
func TestTapper(t *testing.T) {
	legacy := newEcho(t, "legacy", nil)
	newB := newEcho(t, "new", nil)
	hook := &tappingHook{hooked: map[string]bool{"shadowed": true, "rewritten": true, "down": true}, events: make(chan tapEvent, 8)}
	_, base := startProxy(t, Config{
		Legacy: legacy.url(t), Hook: hook,
		Routes: []route.Spec{
			{Name: "shadowed", PathPrefix: "/s", New: newB.url(t), Weight: 0},
			{Name: "rewritten", PathPrefix: "/w", New: newB.url(t), Weight: 100, StripPrefix: "/w", AddPrefix: "/v2"},
			{Name: "plain", PathPrefix: "/p", New: newB.url(t), Weight: 0},
			{Name: "down", PathPrefix: "/d", New: closedURL(t), Weight: 100},
		},
	})
	tests := []struct {
		name, method, path, body string
		hdr                      map[string]string
		want                     string // event kind, "" for none
		complete                 bool
	}{
		{"GET on shadowed route is tapped", "GET", "/s/x?q=1", "",
			map[string]string{"Connection": "X-Drop", "X-Drop": "1", "X-Forwarded-For": "10.0.0.1", "X-Keep": "k"}, "tap", true},
		{"HEAD is tapped", "HEAD", "/s/h", "", nil, "tap", true},
		{"rewritten new side is tapped with the rewritten path", "GET", "/w/a%2Fb/c", "", nil, "tap", true},
		{"not watched", "GET", "/s/x", "", map[string]string{"X-No-Tap": "1"}, "", false},
		{"other route bypasses the hook", "GET", "/p/x", "", nil, "", false},
		{"body takes the hooked RoundTrip", "POST", "/s/x", "data", nil, "roundtrip", true},
		{"unreachable upstream ends the tap incomplete", "GET", "/d/x", "", nil, "tap", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req, err := http.NewRequest(tc.method, base+tc.path, body)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if tc.want == "" {
				select {
				case ev := <-hook.events:
					t.Fatalf("hook saw %s of %s", ev.via, ev.target.Route)
				case <-time.After(50 * time.Millisecond):
				}
				return
			}
			var ev tapEvent
			select {
			case ev = <-hook.events:
			case <-time.After(5 * time.Second):
				t.Fatal("hook saw nothing")
			}
			if ev.via != tc.want || ev.complete != tc.complete {
				t.Fatalf("hook saw %s complete=%v, want %s complete=%v", ev.via, ev.complete, tc.want, tc.complete)
			}
			if ev.via != "tap" || !tc.complete {
				return
			}
			if ev.status != resp.StatusCode || !bytes.Equal(ev.body, got) || ev.header.Get("Content-Type") != resp.Header.Get("Content-Type") {
				t.Fatalf("tap saw %d %q, client got %d %q", ev.status, ev.body, resp.StatusCode, got)
			}
			if tc.method == "HEAD" {
				return
			}
			s := decodeSeen(t, &http.Response{Body: io.NopCloser(bytes.NewReader(got))})
			if ev.out.Method != s.Method || ev.out.URL.Path != s.Path || ev.out.URL.RawQuery != s.Query || ev.out.Host != s.Host {
				t.Fatalf("tap request %s %s ?%s host %s, upstream saw %s %s ?%s host %s",
					ev.out.Method, ev.out.URL.Path, ev.out.URL.RawQuery, ev.out.Host, s.Method, s.Path, s.Query, s.Host)
			}
			if !reflect.DeepEqual(ev.out.Header, s.Header) {
				t.Fatalf("tap request header %v\nupstream saw        %v", ev.out.Header, s.Header)
			}
		})
	}
}
