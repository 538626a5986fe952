package recording

import (
	"crypto/sha256"
	"hash"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ficus-migrate/ficus/proxy/upstream"
)

// The Recorder as an upstream hook: Hooks and Watches decide without
// allocating; RoundTrip (bodies, https) and Tap (the fast path) tee the
// exchange and hand it to enqueue once the client got the whole answer.

var (
	_ upstream.Tapper = (*Recorder)(nil)
	_ upstream.Scoped = (*Recorder)(nil)
)

// shadowHeader marks the shadow mirror's requests (mirror.HeaderName):
// they are not client traffic.
const shadowHeader = "Ficus-Shadow"

// Hooks reports whether t belongs to a recorded route.
func (r *Recorder) Hooks(t upstream.Target) bool { return r.routes[t.Route] != nil }

// Watches reports whether the exchange of in is to be recorded (the route
// records in's method, and the sample says yes).
func (r *Recorder) Watches(t upstream.Target, in *http.Request) bool {
	rs := r.routes[t.Route]
	return rs != nil && r.admits(rs, in)
}

// admits reports whether in's exchange is recorded: its route wants it,
// the route's max_per_second has room, and so has the queue.
func (r *Recorder) admits(rs *routeState, in *http.Request) bool {
	if !rs.wants(in) {
		return false
	}
	if rs.limit != nil && !rs.limit.Allow() {
		r.stats.limited.Add(1)
		return false
	}
	return r.room()
}

// room reports whether the queue can take another exchange; when it cannot
// the exchange is dropped and counted before anything is copied: a
// recorder that falls behind costs the proxy as little as possible.
func (r *Recorder) room() bool {
	if len(r.queue) < cap(r.queue) && r.held.Load() < r.cfg.PendingBytes {
		return true
	}
	r.stats.dropped.Add(1)
	return false
}

func (rs *routeState) wants(in *http.Request) bool {
	if !rs.methods[in.Method] {
		return false
	}
	if _, mirrored := in.Header[shadowHeader]; mirrored {
		return false
	}
	if _, up := in.Header["Upgrade"]; up {
		return false
	}
	return rs.cfg.Sample >= 1 || (rs.cfg.Sample > 0 && rand.Float64() < rs.cfg.Sample)
}

// Tap starts recording a body-less exchange whose outgoing request is out.
func (r *Recorder) Tap(t upstream.Target, out *http.Request) upstream.Tap {
	rs := r.routes[t.Route]
	if rs == nil {
		return nil
	}
	return &tap{r: r, it: r.newItem(rs, t, out, out.Header), max: rs.cfg.MaxBodyBytes}
}

// RoundTrip records sampled exchanges of recorded routes; others pass
// through untouched.
func (r *Recorder) RoundTrip(t upstream.Target, req *http.Request, next http.RoundTripper) (*http.Response, error) {
	rs := r.routes[t.Route]
	if rs == nil || !r.admits(rs, req) {
		return next.RoundTrip(req)
	}
	it := r.newItem(rs, t, req, req.Header.Clone())
	var rt *reqTee
	if req.Body != nil && req.Body != http.NoBody {
		rt = &reqTee{rc: req.Body, max: rs.cfg.MaxBodyBytes}
		req.Body = rt
	}
	resp, err := next.RoundTrip(req)
	if err != nil || resp.StatusCode == http.StatusSwitchingProtocols {
		return resp, err
	}
	tp := &tap{r: r, it: it, max: rs.cfg.MaxBodyBytes, reqBody: rt}
	tp.Response(resp.StatusCode, resp.Header.Clone())
	if upstream.BodyForbidden(req.Method, resp.StatusCode) {
		tp.Done(true)
		return resp, nil
	}
	resp.Body = &respTee{rc: resp.Body, tap: tp}
	return resp, nil
}

func (r *Recorder) newItem(rs *routeState, t upstream.Target, out *http.Request, h http.Header) *item {
	served := sideLegacy
	if t.Side == sideNew {
		served = sideNew
	}
	return &item{route: rs, time: time.Now(), method: out.Method, url: *out.URL, header: h, served: served}
}

const (
	sideLegacy = "legacy"
	sideNew    = "new"
)

// tap collects one exchange's answer as the client is sent it.
type tap struct {
	r       *Recorder
	it      *item
	max     int64
	reqBody *reqTee
	h       hash.Hash
	seen    bool
}

func (f *tap) Response(status int, h http.Header) {
	f.seen = true
	f.it.status, f.it.respH = status, h
	if cl, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64); err == nil && cl > 0 &&
		!upstream.BodyForbidden(f.it.method, status) {
		f.it.respBody = make([]byte, 0, min(cl, f.max))
	}
}

// Write keeps up to max bytes of the body; the sha256 of the whole body
// is computed only once the body outgrows the copy (a body kept whole is
// hashed by the publisher, off the client's path).
func (f *tap) Write(p []byte) {
	f.it.respSize += int64(len(p))
	if f.h != nil {
		f.h.Write(p)
		return
	}
	room := f.max - int64(len(f.it.respBody))
	if int64(len(p)) <= room {
		f.it.respBody = append(f.it.respBody, p...)
		return
	}
	f.it.respBody = append(f.it.respBody, p[:max(room, 0)]...)
	f.h = sha256.New()
	f.h.Write(f.it.respBody)
	f.h.Write(p[max(room, 0):])
}

func (f *tap) Done(complete bool) {
	if !complete || !f.seen {
		return // no answer, or one the client did not get whole
	}
	it := f.it
	it.latency = time.Since(it.time)
	if f.h != nil {
		it.respSum = f.h.Sum(nil)
	}
	it.reqWhole = true
	if f.reqBody != nil {
		it.reqBody, it.reqWhole = f.reqBody.copyOut()
	}
	f.r.enqueue(it)
}

// reqTee copies up to max bytes of a request body as the transport reads
// it; it never reads on its own. The transport may still be writing the
// body when the answer is done, hence the lock.
type reqTee struct {
	rc  io.ReadCloser
	max int64

	mu  sync.Mutex
	buf []byte
	n   int64
	eof bool
}

func (t *reqTee) Read(p []byte) (int, error) {
	n, err := t.rc.Read(p)
	t.mu.Lock()
	if n > 0 {
		t.n += int64(n)
		if room := t.max - int64(len(t.buf)); room > 0 {
			t.buf = append(t.buf, p[:min(int64(n), room)]...)
		}
	}
	t.eof = t.eof || err == io.EOF
	t.mu.Unlock()
	return n, err
}

func (t *reqTee) Close() error { return t.rc.Close() }

// copyOut returns the body read so far and whether it is whole (every
// byte read and kept).
func (t *reqTee) copyOut() ([]byte, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf, t.eof && t.n == int64(len(t.buf))
}

// respTee feeds the answer's body to a tap as the client reads it; Done
// follows EOF (complete) or an early Close.
type respTee struct {
	rc   io.ReadCloser
	tap  *tap
	once sync.Once
}

func (t *respTee) Read(p []byte) (int, error) {
	n, err := t.rc.Read(p)
	if n > 0 {
		t.tap.Write(p[:n])
	}
	if err == io.EOF {
		t.once.Do(func() { t.tap.Done(true) })
	}
	return n, err
}

func (t *respTee) Close() error {
	err := t.rc.Close()
	t.once.Do(func() { t.tap.Done(false) })
	return err
}
