package mirror

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ficus-migrate/ficus/proxy/upstream"
)

// rawClient sends mirrored requests to plain-http sides over raw keep-alive
// connections on the worker's own goroutine, like the proxy's fast path:
// http.Transport's two goroutines per connection and their hand-offs were
// the largest share of the mirror's CPU. It adds nothing to the request
// (no User-Agent, no Accept-Encoding), so the shadow side sees the headers
// the primary side saw, plus Ficus-Shadow.
//
// A reused connection is only as good as the side's framing. Bytes a side
// sends out of turn (a second answer to one request, a body on a HEAD, 204
// or 304 answer, more body than its Content-Length) would be read as the
// answer to the connection's next request, and a shadow record would pair a
// request with another request's answer. Hence:
//   - a connection whose answer may carry no body (upstream.BodyForbidden),
//     or that holds unread bytes after an answer, is closed, never reused;
//     the pool's Get looks for bytes that came while it was idle;
//   - a side starts on probation: a used connection rests for rest before
//     it goes back to the pool, so a second answer sent up to rest late is
//     caught by Get, not read as the next request's answer. The side is
//     trusted once one of its connections came back clean from a rest and
//     probation has passed since without evidence against it; it is then
//     pipelined (pipeline.go) and its connections are reused at once
//     (resting them all costs hundreds of connections at a few thousand
//     requests a second);
//   - a side caught sending bytes out of turn is distrusted for
//     distrustFor: each request then has a fresh connection of its own,
//     closed after its answer, so nothing sent out of turn can be taken for
//     an answer; then it starts on probation again.
//
// What no client can rule out: a trusted side that starts answering
// requests twice, the second time after the connection's next request was
// sent or inside a pipeline (where a second answer looks exactly like the
// next one), shifts the answers of that one connection until a check
// catches it and distrusts the side. The probation is there so that a side
// that does it on some of its endpoints is caught before it is trusted.
type rawClient struct {
	log       *slog.Logger // the mirror's
	poolLog   *slog.Logger // for the upstream pools, which add their own component
	timeouts  upstream.Timeouts
	discarded func(reason string) // counts a connection closed for its side's misbehaviour
	// rest, probation and distrustFor are explained above.
	rest, probation, distrustFor time.Duration

	hosts sync.Map   // host → *rawHost
	mu    sync.Mutex // serializes the creation of hosts
}

// The durations of rawClient, variables so that tests can shorten them
// before a mirror starts.
var (
	rawRest      = 100 * time.Millisecond
	rawProbation = 5 * time.Second
	rawDistrust  = time.Minute
)

const (
	// maxIdle bounds the connections resting, and then idle, per host. On
	// probation a side needs about a rest period's exchanges of them (200
	// at 2,000 requests a second): a smaller pool closed the surplus and
	// dialled again, a thousand connections in five seconds. The idle ones
	// are reaped after the idle timeout.
	maxIdle = 1024
	// discardHeaderTooLarge joins upstream's Discard* reasons.
	discardHeaderTooLarge = "header_too_large"
)

func newRawClient(poolLog, log *slog.Logger, discarded func(reason string)) *rawClient {
	return &rawClient{
		log:         log,
		poolLog:     poolLog,
		timeouts:    upstream.Timeouts{Connect: 5 * time.Second, Idle: 90 * time.Second},
		discarded:   discarded,
		rest:        rawRest,
		probation:   rawProbation,
		distrustFor: rawDistrust,
	}
}

// rawHost is the connections to one side. Each host has a pool of its own
// so that the pool's discards (upstream.Config.OnDiscard) name the host.
type rawHost struct {
	c     *rawClient
	name  string
	pool  *upstream.Pool
	conns *upstream.Conns
	// trustedSince (UnixNano, 0: not trusted) is when one of its
	// connections first came back clean from a rest; distrustedUntil
	// (UnixNano) ends the one connection per request regime.
	trustedSince    atomic.Int64
	distrustedUntil atomic.Int64

	mu      sync.Mutex
	resting []restingConn // oldest first
	closed  bool
}

type restingConn struct {
	cn    *upstream.Conn
	since time.Time
}

// host returns the connections to u's host, or nil for a URL that is not
// plain http.
func (c *rawClient) host(u *url.URL) *rawHost {
	if u.Scheme != "http" {
		return nil
	}
	if h, ok := c.hosts.Load(u.Host); ok {
		return h.(*rawHost)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if h, ok := c.hosts.Load(u.Host); ok {
		return h.(*rawHost)
	}
	h := &rawHost{c: c, name: u.Host}
	h.pool = upstream.NewPool(upstream.Config{MaxIdleConnsPerHost: maxIdle, Logger: c.poolLog, OnDiscard: h.discard})
	if h.conns = h.pool.Conns(upstream.Target{URL: &url.URL{Scheme: "http", Host: u.Host}}, c.timeouts); h.conns == nil {
		return nil
	}
	c.hosts.Store(u.Host, h)
	return h
}

// trusts reports whether requests to u may be pipelined.
func (c *rawClient) trusts(u *url.URL) bool {
	h := c.host(u)
	return h != nil && h.trusted()
}

// trusted: past its probation, not distrusted (see rawClient).
func (h *rawHost) trusted() bool {
	since := h.trustedSince.Load()
	return since != 0 && time.Since(time.Unix(0, since)) >= h.c.probation && !h.distrusted()
}

// close closes every connection; the mirror has stopped.
func (c *rawClient) close() {
	c.hosts.Range(func(_, v any) bool {
		h := v.(*rawHost)
		h.mu.Lock()
		h.closed = true
		resting := h.resting
		h.resting = nil
		h.mu.Unlock()
		for _, r := range resting {
			_ = r.cn.Close()
		}
		h.pool.Retain(nil)
		return true
	})
}

// discard is the pool's OnDiscard: bytes on an idle connection are a side
// answering out of turn.
func (h *rawHost) discard(reason string) {
	h.c.discarded(reason)
	if reason == upstream.DiscardUnsolicited {
		h.distrust("bytes arrived on an idle connection")
	}
}

// unsolicited counts a connection closed for bytes found after an answer
// and distrusts its side.
func (h *rawHost) unsolicited(evidence string) {
	h.c.discarded(upstream.DiscardUnsolicited)
	h.distrust(evidence)
}

func (h *rawHost) distrust(evidence string) {
	now := time.Now()
	if h.distrustedUntil.Swap(now.Add(h.c.distrustFor).UnixNano()) < now.UnixNano() {
		h.c.log.Warn("shadow side sends bytes out of turn; one connection per mirrored request for a while",
			"host", h.name, "evidence", evidence, "for", h.c.distrustFor)
	}
	h.trustedSince.Store(0)
	h.mu.Lock()
	resting := h.resting
	h.resting = nil
	h.mu.Unlock()
	for _, r := range resting {
		_ = r.cn.Close()
	}
	h.conns.CloseIdle()
}

func (h *rawHost) distrusted() bool { return time.Now().UnixNano() < h.distrustedUntil.Load() }

// get returns a connection for an exchange; alone says it must carry that
// exchange only (with Connection: close), the side being distrusted.
func (h *rawHost) get(ctx context.Context) (cn *upstream.Conn, alone bool, err error) {
	if h.distrusted() {
		cn, err = h.conns.Dial(ctx)
		return cn, true, err
	}
	h.wake(time.Now())
	if cn, err = h.conns.Get(ctx); err != nil {
		return nil, false, err
	}
	if h.distrusted() { // Get has just found another connection unclean
		return cn, true, nil
	}
	if cn.Reused && h.trustedSince.Load() == 0 {
		h.trustedSince.CompareAndSwap(0, time.Now().UnixNano())
	}
	return cn, false, nil
}

// wake hands the connections that have rested long enough to the pool,
// whose Get checks them before any reuse. One that rested past the idle
// timeout is closed: the side has likely closed it too.
func (h *rawHost) wake(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for ; n < len(h.resting) && now.Sub(h.resting[n].since) >= h.c.rest; n++ {
		if r := h.resting[n]; now.Sub(r.since) > h.c.timeouts.Idle {
			_ = r.cn.Close()
		} else {
			h.conns.Put(r.cn)
		}
	}
	if n > 0 {
		left := copy(h.resting, h.resting[n:])
		clear(h.resting[left:])
		h.resting = h.resting[:left]
	}
}

// finish ends an exchange whose answer was read (clean: to its end, in
// time): the connection rests before its next use, or is closed.
func (h *rawHost) finish(cn *upstream.Conn, method string, resp *http.Response, clean, alone bool) {
	if clean && cn.R.Buffered() > 0 {
		// Bytes after a whole answer, with no other request outstanding:
		// a second answer, a body where none may be, or more body than
		// announced.
		h.unsolicited("bytes after a complete answer")
		clean = false
	}
	if !clean || alone || resp.Close || resp.StatusCode == http.StatusSwitchingProtocols ||
		// A side that sends a body where its framing forbids one may
		// send it later still: such a connection is never reused.
		upstream.BodyForbidden(method, resp.StatusCode) ||
		cn.SetDeadline(time.Time{}) != nil {
		_ = cn.Close()
		return
	}
	h.put(cn)
}

// put returns a cleanly used connection to the pool, after a rest while
// the side is on probation (see rawClient).
func (h *rawHost) put(cn *upstream.Conn) {
	if h.distrusted() {
		_ = cn.Close()
		return
	}
	if h.trusted() {
		h.conns.Put(cn)
		return
	}
	h.mu.Lock()
	if h.closed || len(h.resting) >= maxIdle {
		h.mu.Unlock()
		_ = cn.Close()
		return
	}
	h.resting = append(h.resting, restingConn{cn, time.Now()})
	h.mu.Unlock()
}

// do sends one request; the caller reads resp.Body to the end and then
// calls finish(clean), which lets the connection rest or closes it.
func (c *rawClient) do(ctx context.Context, method string, u *url.URL, hdr http.Header, body []byte) (*http.Response, func(bool), error) {
	h := c.host(u)
	if h == nil {
		return nil, nil, errors.New("raw client: not a plain-http URL")
	}
	cn, alone, err := h.get(ctx)
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.exchange(ctx, cn, method, u, hdr, body, alone)
	if err != nil && cn.Reused && ctx.Err() == nil && idempotent(method) && !errors.Is(err, upstream.ErrResponseHeaderTooLarge) {
		// Most likely a keep-alive connection the side closed meanwhile.
		if cn, err = h.conns.Dial(ctx); err == nil {
			resp, err = c.exchange(ctx, cn, method, u, hdr, body, alone)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	finish := func(clean bool) { h.finish(cn, method, resp, clean && ctx.Err() == nil, alone) }
	return resp, finish, nil
}

// exchange writes the request and reads the response headers; on error the
// connection is closed. ctx's deadline (the route's timeout) bounds the
// whole exchange, body included; a cancelled ctx (shutdown) is noticed
// between exchanges only, which the same deadline keeps short. Watching it
// with context.AfterFunc cost more than the rest of the exchange allocates.
func (c *rawClient) exchange(ctx context.Context, cn *upstream.Conn, method string, u *url.URL,
	hdr http.Header, body []byte, alone bool) (*http.Response, error) {
	err := ctx.Err()
	if err == nil {
		dl, ok := ctx.Deadline()
		if !ok {
			dl = time.Now().Add(c.timeouts.Connect) // never unbounded
		}
		err = cn.SetDeadline(dl)
	}
	if err == nil {
		writeRequest(cn.W, method, u, hdr, body, alone)
		err = cn.W.Flush()
	}
	var resp *http.Response
	if err == nil {
		resp, err = c.readFinal(cn, method)
	}
	if err != nil {
		_ = cn.Close()
		return nil, err
	}
	return resp, nil
}

// readFinal reads the answer's head, skipping informational (1xx) ones,
// each within the pool's header limit.
func (c *rawClient) readFinal(cn *upstream.Conn, method string) (*http.Response, error) {
	req := &http.Request{Method: method}
	for {
		resp, err := cn.ReadResponse(req)
		if err != nil {
			if errors.Is(err, upstream.ErrResponseHeaderTooLarge) {
				c.discarded(discardHeaderTooLarge)
			}
			return nil, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, nil
		}
	}
}

// writeRequest writes the mirrored request; alone adds Connection: close,
// so that the side, too, ends the connection after its answer.
func writeRequest(bw *bufio.Writer, method string, u *url.URL, hdr http.Header, body []byte, alone bool) {
	bw.WriteString(method)
	bw.WriteByte(' ')
	bw.WriteString(u.RequestURI())
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(u.Host)
	bw.WriteString("\r\n")
	for k, vv := range hdr {
		if k == "Host" || k == "Content-Length" || k == "Transfer-Encoding" || k == "Connection" || k == HeaderName ||
			strings.ContainsAny(k, "\r\n: ") {
			continue
		}
		for _, v := range vv {
			if !strings.ContainsAny(v, "\r\n") { // never let a value end the header early
				writeField(bw, k, v)
			}
		}
	}
	writeField(bw, HeaderName, "1")
	if alone {
		writeField(bw, "Connection", "close")
	}
	if body != nil || (method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions) {
		writeField(bw, "Content-Length", strconv.Itoa(len(body)))
	}
	bw.WriteString("\r\n")
	_, _ = bw.Write(body)
}

func writeField(bw *bufio.Writer, k, v string) {
	bw.WriteString(k)
	bw.WriteString(": ")
	bw.WriteString(v)
	bw.WriteString("\r\n")
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}
