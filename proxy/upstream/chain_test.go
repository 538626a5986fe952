package upstream

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// traceHook is a Hook that writes down what it sees: on RoundTrip its name
// before and after the next, as a Tapper the calls of its taps.
type traceHook struct {
	name    string
	route   string // the one route it hooks ("" = all, not Scoped)
	watches bool
	log     *[]string
}

func (h *traceHook) RoundTrip(t Target, req *http.Request, next http.RoundTripper) (*http.Response, error) {
	*h.log = append(*h.log, h.name+">")
	resp, err := next.RoundTrip(req)
	*h.log = append(*h.log, "<"+h.name)
	return resp, err
}

type scopedTapper struct{ traceHook }

func (h *scopedTapper) Hooks(t Target) bool { return h.route == "" || t.Route == h.route }

func (h *scopedTapper) Watches(Target, *http.Request) bool { return h.watches }

func (h *scopedTapper) Tap(_ Target, out *http.Request) Tap {
	return &traceTap{name: h.name, log: h.log, out: out}
}

type traceTap struct {
	name string
	log  *[]string
	out  *http.Request
}

func (t *traceTap) Response(status int, h http.Header) {
	h.Set("Seen-By-"+t.name, "1") // each tap owns its header
	*t.log = append(*t.log, fmt.Sprintf("%s:%d:%d", t.name, status, len(h)))
}
func (t *traceTap) Write(p []byte) { *t.log = append(*t.log, t.name+":"+string(p)) }
func (t *traceTap) Done(complete bool) {
	*t.log = append(*t.log, fmt.Sprintf("%s:done:%v", t.name, complete))
}

func TestChain(t *testing.T) {
	if Chain() != nil || Chain(nil, nil) != nil {
		t.Error("Chain of no hooks is not nil")
	}
	var log []string
	one := &traceHook{name: "a", log: &log}
	if Chain(nil, one) != Hook(one) {
		t.Error("Chain of one hook is not that hook")
	}
	final := roundTripFunc(func(*http.Request) (*http.Response, error) {
		log = append(log, "backend")
		return &http.Response{StatusCode: 200}, nil
	})
	for _, tc := range []struct {
		name         string
		route        string
		mirror, rec  *scopedTapper
		hooked       bool
		wantTrip     string
		wantTap      string // "" = no tap
		tapperOfPool bool
	}{
		{"both hook, both watch", "orders",
			&scopedTapper{traceHook{name: "m", route: "orders", watches: true}}, &scopedTapper{traceHook{name: "r", route: "orders", watches: true}},
			true, "m> r> backend <r <m", "m:200:2 r:200:2 m:x r:x m:done:true r:done:true", true},
		{"only the recorder hooks the route", "carts",
			&scopedTapper{traceHook{name: "m", route: "orders", watches: true}}, &scopedTapper{traceHook{name: "r", route: "carts", watches: true}},
			true, "r> backend <r", "r:200:2 r:x r:done:true", true},
		{"both hook, one watches", "orders",
			&scopedTapper{traceHook{name: "m", route: "orders", watches: false}}, &scopedTapper{traceHook{name: "r", route: "orders", watches: true}},
			true, "m> r> backend <r <m", "r:200:2 r:x r:done:true", true},
		{"none watches", "orders",
			&scopedTapper{traceHook{name: "m", route: "orders"}}, &scopedTapper{traceHook{name: "r", route: "orders"}},
			true, "m> r> backend <r <m", "", true},
		{"none hooks", "users",
			&scopedTapper{traceHook{name: "m", route: "orders"}}, &scopedTapper{traceHook{name: "r", route: "carts"}},
			false, "backend", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log = nil
			tc.mirror.log, tc.rec.log = &log, &log
			c := Chain(tc.mirror, tc.rec)
			target := Target{Route: tc.route, Side: "legacy"}
			p := NewPool(Config{Hook: c})
			if p.Hooked(target) != tc.hooked {
				t.Fatalf("Hooked = %v, want %v", p.Hooked(target), tc.hooked)
			}
			req, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
			if _, err := c.RoundTrip(target, req, final); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(log, " "); got != tc.wantTrip {
				t.Errorf("round trip %q, want %q", got, tc.wantTrip)
			}
			tp := p.Tapper(target)
			if !tc.hooked {
				return
			}
			if tp == nil || !tp.Watches(target, req) {
				t.Fatal("a hooked target is not watched by the chain")
			}
			log = nil
			tap := tp.Tap(target, req.Clone(req.Context()))
			if tap == nil {
				if tc.wantTap != "" {
					t.Fatalf("no tap, want %q", tc.wantTap)
				}
				return
			}
			tap.Response(200, http.Header{"Content-Type": {"text/plain"}})
			tap.Write([]byte("x"))
			tap.Done(true)
			if got := strings.Join(log, " "); got != tc.wantTap {
				t.Errorf("tap %q, want %q", got, tc.wantTap)
			}
		})
	}
}
