package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// connBufSize fits typical response headers plus a small JSON body, so most
// exchanges take one read and one write per side.
const connBufSize = 4 << 10

// Conns is a pool of idle HTTP/1.1 keep-alive connections to one plain-http
// backend, for callers that drive the whole exchange on their own goroutine.
// Unlike http.Transport it runs no per-connection read/write goroutines, so
// a request costs no goroutine hand-offs; that is most of the proxy's
// per-request CPU on a small machine.
type Conns struct {
	addr     string
	dialer   net.Dialer
	timeouts Timeouts
	max      int
	// maxHead caps each response head read from the network (0: none).
	maxHead int64
	// onDiscard is told why an idle connection was not reused.
	onDiscard func(reason string)
	tls       *tls.Config // nil: plain TCP

	mu     sync.Mutex
	idle   []*Conn // LIFO: the most recently used (warmest) connection first
	reaper *time.Timer
	closed bool
}

// Conn is one upstream connection with its buffers.
type Conn struct {
	net.Conn
	R *bufio.Reader
	W *bufio.Writer
	// Reused is true when the connection came from the idle pool, so a
	// failure may be a stale keep-alive and an idempotent request may retry.
	Reused   bool
	lastUsed time.Time
	lr       *limitReader
	maxHead  int64
}

// Reasons an idle connection is discarded instead of reused, the values of
// the reason label of ficus_proxy_upstream_conns_discarded_total.
const (
	// DiscardUnsolicited: the backend sent bytes nobody asked for (a second
	// response, a body after a body-less answer, a body longer than its
	// length) while the connection sat idle.
	DiscardUnsolicited = "unsolicited"
	// DiscardClosed: the backend closed the idle connection.
	DiscardClosed = "closed"
	// DiscardError: the connection could not be checked.
	DiscardError = "error"
)

// connsConfig configures one backend's Conns.
type connsConfig struct {
	addr      string // host:port dialled
	timeouts  Timeouts
	max       int                 // idle connections kept
	maxHead   int64               // response head cap (0: none)
	onDiscard func(reason string) // may be nil
	// tls, when set, makes every connection TLS (HTTP/1.1 only) with this
	// configuration; ServerName is the backend's host name.
	tls *tls.Config
}

func newConns(cfg connsConfig) *Conns {
	if cfg.onDiscard == nil {
		cfg.onDiscard = func(string) {}
	}
	return &Conns{
		addr:      cfg.addr,
		dialer:    net.Dialer{Timeout: cfg.timeouts.Connect, KeepAlive: 30 * time.Second},
		timeouts:  cfg.timeouts,
		max:       cfg.max,
		maxHead:   cfg.maxHead,
		onDiscard: cfg.onDiscard,
		tls:       cfg.tls,
	}
}

// Timeouts returns the timeouts the pool was built with.
func (c *Conns) Timeouts() Timeouts { return c.timeouts }

// Get returns an idle connection known to be clean, or dials a new one
// bounded by ctx and the connect timeout. An idle connection that has
// anything to read (a stray response, EOF) is closed, never reused: what it
// holds would otherwise be read as the answer to this request.
func (c *Conns) Get(ctx context.Context) (*Conn, error) {
	for {
		c.mu.Lock()
		n := len(c.idle)
		if n == 0 {
			c.mu.Unlock()
			return c.Dial(ctx)
		}
		cn := c.idle[n-1]
		c.idle[n-1] = nil
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		reason := DiscardUnsolicited
		if cn.R.Buffered() == 0 {
			reason = cn.idleState()
		}
		if reason == "" {
			cn.Reused = true
			return cn, nil
		}
		_ = cn.Close()
		c.onDiscard(reason)
	}
}

// Dial opens a fresh connection, bypassing the idle pool.
func (c *Conns) Dial(ctx context.Context) (*Conn, error) {
	var nc net.Conn
	var err error
	if c.tls != nil {
		td := tls.Dialer{NetDialer: &c.dialer, Config: c.tls}
		nc, err = td.DialContext(ctx, "tcp", c.addr) // handshake included, bounded by ctx and the connect timeout
	} else {
		nc, err = c.dialer.DialContext(ctx, "tcp", c.addr)
	}
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", c.addr, err)
	}
	lr := &limitReader{r: nc, n: -1}
	return &Conn{Conn: nc, R: bufio.NewReaderSize(lr, connBufSize), W: bufio.NewWriterSize(nc, connBufSize),
		lr: lr, maxHead: c.maxHead}, nil
}

// idleState says whether an idle connection is clean ("") or why not. A TLS
// connection can also hold bytes in its own buffers, which no socket peek
// sees; see tlsIdleState.
func (cn *Conn) idleState() string {
	tc, ok := cn.Conn.(*tls.Conn)
	if !ok {
		return idleState(cn.Conn)
	}
	return cn.tlsIdleState(tc)
}

// tlsIdleState: first a read with an expired deadline, which returns what
// the tls.Conn has buffered (decrypted, or a whole record) without touching
// the socket; then a peek at the socket. Bytes there may be a record that
// carries no data (a session ticket), so they are read with a short
// deadline: data means a stray answer, EOF or close_notify a closed
// connection, a timeout a clean one. A read timeout leaves a tls.Conn
// usable (it is a temporary error).
func (cn *Conn) tlsIdleState(tc *tls.Conn) string {
	reason := cn.peekBy(aLongTimeAgo)
	if reason != "" {
		return reason
	}
	if idleState(tc.NetConn()) == "" {
		return ""
	}
	return cn.peekBy(time.Now().Add(tlsIdleProbe))
}

// tlsIdleProbe bounds the read of bytes found on an idle TLS socket.
const tlsIdleProbe = 5 * time.Millisecond

// peekBy peeks at one byte through the reader with a read deadline.
func (cn *Conn) peekBy(deadline time.Time) string {
	if err := cn.SetReadDeadline(deadline); err != nil {
		return DiscardError
	}
	_, err := cn.R.Peek(1)
	if derr := cn.SetReadDeadline(time.Time{}); derr != nil {
		return DiscardError
	}
	var ne net.Error
	switch {
	case err == nil:
		return DiscardUnsolicited
	case errors.As(err, &ne) && ne.Timeout():
		return ""
	case errors.Is(err, io.EOF):
		return DiscardClosed
	}
	return DiscardError
}

// ErrResponseHeaderTooLarge is returned by ReadResponse for a response head
// over its limit.
var ErrResponseHeaderTooLarge = errors.New("upstream response header too large")

// ReadResponse reads one response head for req (an informational 1xx
// included) from the connection. The head may take at most the pool's
// MaxResponseHeaderBytes read from the network, plus what was already
// buffered, so a backend cannot make ficus buffer headers without end.
func (cn *Conn) ReadResponse(req *http.Request) (*http.Response, error) {
	maxHeaderBytes := cn.maxHead
	if maxHeaderBytes <= 0 {
		return http.ReadResponse(cn.R, req)
	}
	cn.lr.n, cn.lr.hit = maxHeaderBytes, false
	resp, err := http.ReadResponse(cn.R, req)
	cn.lr.n = -1
	if cn.lr.hit {
		return nil, fmt.Errorf("%w (limit %d bytes)", ErrResponseHeaderTooLarge, maxHeaderBytes)
	}
	return resp, err
}

// BodyForbidden reports the answers whose framing says they carry no body:
// to HEAD, informational, 204 and 304 (RFC 9112 6.3). A backend that sends
// one anyway leaves bytes on the connection, so such a connection is never
// reused.
func BodyForbidden(method string, status int) bool {
	return method == http.MethodHead || status < 200 || status == http.StatusNoContent ||
		status == http.StatusNotModified
}

// limitReader caps what a response head may read from the network; n < 0
// means no limit (bodies).
type limitReader struct {
	r   io.Reader
	n   int64
	hit bool
}

var errLimit = errors.New("read limit reached")

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return l.r.Read(p)
	}
	if l.n == 0 {
		l.hit = true
		return 0, errLimit
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// Put returns a connection whose last exchange completed cleanly.
func (c *Conns) Put(cn *Conn) {
	cn.lastUsed = time.Now()
	c.mu.Lock()
	if c.closed || len(c.idle) >= c.max {
		c.mu.Unlock()
		_ = cn.Close()
		return
	}
	c.idle = append(c.idle, cn)
	if c.reaper == nil && c.timeouts.Idle > 0 {
		c.reaper = time.AfterFunc(c.timeouts.Idle, c.reap)
	}
	c.mu.Unlock()
}

// reap closes connections idle for longer than the idle timeout. The LIFO
// order means the stale ones are at the bottom of the stack.
func (c *Conns) reap() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reaper = nil
	cutoff := time.Now().Add(-c.timeouts.Idle)
	n := 0
	for n < len(c.idle) && c.idle[n].lastUsed.Before(cutoff) {
		_ = c.idle[n].Close()
		n++
	}
	c.idle = append(c.idle[:0], c.idle[n:]...)
	if len(c.idle) > 0 && !c.closed {
		next := time.Until(c.idle[0].lastUsed.Add(c.timeouts.Idle))
		c.reaper = time.AfterFunc(max(next, time.Millisecond), c.reap)
	}
}

// CloseIdle closes all idle connections; in-flight ones close when Put.
func (c *Conns) CloseIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, cn := range c.idle {
		_ = cn.Close()
		c.idle[i] = nil
	}
	c.idle = c.idle[:0]
}

// close retires the pool: idle connections close now, returned ones on Put.
func (c *Conns) close() {
	c.mu.Lock()
	c.closed = true
	if c.reaper != nil {
		c.reaper.Stop()
		c.reaper = nil
	}
	c.mu.Unlock()
	c.CloseIdle()
}
