package upstream

import (
	"bufio"
	"context"
	"fmt"
	"net"
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
}

func newConns(host string, t Timeouts, max int) *Conns {
	return &Conns{
		addr:     host,
		dialer:   net.Dialer{Timeout: t.Connect, KeepAlive: 30 * time.Second},
		timeouts: t,
		max:      max,
	}
}

// Timeouts returns the timeouts the pool was built with.
func (c *Conns) Timeouts() Timeouts { return c.timeouts }

// Get returns an idle connection, or dials a new one bounded by ctx and the
// connect timeout.
func (c *Conns) Get(ctx context.Context) (*Conn, error) {
	c.mu.Lock()
	if n := len(c.idle); n > 0 {
		cn := c.idle[n-1]
		c.idle[n-1] = nil
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		cn.Reused = true
		return cn, nil
	}
	c.mu.Unlock()
	return c.Dial(ctx)
}

// Dial opens a fresh connection, bypassing the idle pool.
func (c *Conns) Dial(ctx context.Context) (*Conn, error) {
	nc, err := c.dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", c.addr, err)
	}
	return &Conn{Conn: nc, R: bufio.NewReaderSize(nc, connBufSize), W: bufio.NewWriterSize(nc, connBufSize)}, nil
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
		next := c.idle[0].lastUsed.Add(c.timeouts.Idle).Sub(time.Now())
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
