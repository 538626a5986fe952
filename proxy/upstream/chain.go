package upstream

import "net/http"

// Chain returns one Hook that runs hooks in turn (nil ones skipped): the
// shadow mirror and the traffic recorder on the same proxy. A single hook
// is returned as it is, none as nil. The chain is Scoped (a target is
// hooked when any hook wants it) and, when every hook is a Tapper, a
// Tapper.
//
// A chained Tapper decides on the outgoing request: Watches says yes for
// every target some hook Hooks, and Tap asks each hook's Watches with out
// and taps those that say yes (nil when none does). The fast path then
// builds the outgoing request for every request of such a target — the
// price of two independent samplings; a single hook keeps Watches without
// allocating.
func Chain(hooks ...Hook) Hook {
	var hs []Hook
	for _, h := range hooks {
		if h != nil {
			hs = append(hs, h)
		}
	}
	switch len(hs) {
	case 0:
		return nil
	case 1:
		return hs[0]
	}
	taps := make([]Tapper, 0, len(hs))
	for _, h := range hs {
		if tp, ok := h.(Tapper); ok {
			taps = append(taps, tp)
		}
	}
	c := chain{hooks: hs}
	if len(taps) == len(hs) {
		return &tapChain{chain: c, taps: taps}
	}
	return &c
}

type chain struct{ hooks []Hook }

func hooks(h Hook, t Target) bool {
	s, ok := h.(Scoped)
	return !ok || s.Hooks(t)
}

// Hooks implements Scoped.
func (c *chain) Hooks(t Target) bool {
	for _, h := range c.hooks {
		if hooks(h, t) {
			return true
		}
	}
	return false
}

// RoundTrip runs the hooks that Hook t, each wrapping the next.
func (c *chain) RoundTrip(t Target, req *http.Request, next http.RoundTripper) (*http.Response, error) {
	rt := next
	for i := len(c.hooks) - 1; i >= 0; i-- {
		h := c.hooks[i]
		if !hooks(h, t) {
			continue
		}
		inner := rt
		rt = roundTripFunc(func(r *http.Request) (*http.Response, error) { return h.RoundTrip(t, r, inner) })
	}
	return rt.RoundTrip(req)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type tapChain struct {
	chain
	taps []Tapper
}

// Watches implements Tapper: see Chain.
func (c *tapChain) Watches(t Target, _ *http.Request) bool { return c.Hooks(t) }

// Tap implements Tapper: see Chain. Each tapping hook gets its own copy of
// out, whose ownership passes to it.
func (c *tapChain) Tap(t Target, out *http.Request) Tap {
	var watching [4]Tapper // on the stack: chains are short
	w := watching[:0]
	for _, tp := range c.taps {
		if hooks(tp, t) && tp.Watches(t, out) {
			w = append(w, tp)
		}
	}
	var ts multiTap
	for i, tp := range w {
		o := out
		if i < len(w)-1 {
			o = out.Clone(out.Context()) // copied before any Tap owns out
		}
		if tap := tp.Tap(t, o); tap != nil {
			ts = append(ts, tap)
		}
	}
	if len(ts) == 0 {
		return nil
	}
	return ts
}

type multiTap []Tap

// Response gives each Tap a header of its own (a Tap may keep and change
// it): copies to all but the last, which gets h.
func (m multiTap) Response(status int, h http.Header) {
	for i, t := range m {
		own := h
		if i < len(m)-1 {
			own = h.Clone()
		}
		t.Response(status, own)
	}
}

func (m multiTap) Write(p []byte) {
	for _, t := range m {
		t.Write(p)
	}
}

func (m multiTap) Done(complete bool) {
	for _, t := range m {
		t.Done(complete)
	}
}
