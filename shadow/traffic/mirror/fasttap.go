package mirror

import (
	"crypto/sha256"
	"hash"
	"net/http"
	"strconv"
	"time"

	"github.com/ficus-migrate/ficus/proxy/upstream"
	"github.com/ficus-migrate/ficus/shadow/traffic/diff"
)

// The proxy's fast path drives its upstream exchanges itself; these methods
// let it keep doing so on shadowed routes (upstream.Scoped, upstream.Tapper)
// instead of falling back to RoundTrip and http.Transport for every request.

// Hooks reports whether t belongs to a shadowed route: only those need the
// mirror, every other route bypasses it.
func (m *Mirror) Hooks(t upstream.Target) bool { return m.routes[t.Route] != nil }

// Watches reports whether the exchange of in is to be mirrored; it
// allocates nothing.
func (m *Mirror) Watches(t upstream.Target, in *http.Request) bool {
	rs := m.routes[t.Route]
	return rs != nil && rs.wants(in)
}

// Tap starts watching a body-less exchange whose outgoing request is out
// (Watches said yes); the returned Tap enqueues the job once the client has
// been sent the whole answer.
func (m *Mirror) Tap(t upstream.Target, out *http.Request) upstream.Tap {
	rs := m.routes[t.Route]
	if rs == nil {
		return nil
	}
	served := sideLegacy
	if t.Side == sideNew {
		served = sideNew
	}
	return &fastTap{
		m:     m,
		start: time.Now(),
		max:   rs.cfg.MaxBodyBytes,
		// out and its header are ours: no copy needed.
		j: &job{route: rs, method: out.Method, url: *out.URL, header: out.Header, served: served},
	}
}

// fastTap is the fast-path counterpart of respTee.
type fastTap struct {
	m     *Mirror
	j     *job
	start time.Time
	max   int64
	buf   []byte
	n     int64
	h     hash.Hash
	seen  bool
}

func (f *fastTap) Response(status int, h http.Header) {
	f.seen = true
	f.j.status, f.j.respH = status, h
	// With a length, the copy is sized once: it waits in the queue, spare
	// capacity included (growing by append would leave up to a quarter).
	if upstream.BodyForbidden(f.j.method, status) {
		return
	}
	if cl, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64); err == nil && cl > 0 {
		f.buf = make([]byte, 0, min(cl, f.max))
	}
}

func (f *fastTap) Write(p []byte) {
	if f.h == nil {
		f.h = sha256.New()
	}
	f.h.Write(p)
	f.n += int64(len(p))
	if room := f.max - int64(len(f.buf)); room > 0 {
		if f.buf == nil {
			// Most answers fit the first chunk: size the copy for it.
			f.buf = make([]byte, 0, min(int64(len(p)), room))
		}
		f.buf = append(f.buf, p[:min(int64(len(p)), room)]...)
	}
}

func (f *fastTap) Done(complete bool) {
	if !complete || !f.seen {
		// No answer, or one the client did not get whole: nothing sound to
		// compare with.
		return
	}
	j := f.j
	j.latency = time.Since(f.start)
	j.primary = diff.Answer{
		Status: j.status, Header: j.respH, ContentType: j.respH.Get("Content-Type"),
		Body: f.buf, Truncated: f.n > int64(len(f.buf)), Size: f.n, Hash: f.sum(),
	}
	f.m.enqueue(j)
}

func (f *fastTap) sum() [32]byte {
	if f.h == nil {
		return sha256.Sum256(nil)
	}
	var s [32]byte
	f.h.Sum(s[:0])
	return s
}
