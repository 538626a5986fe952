package serve

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
)

// A request with both Transfer-Encoding and Content-Length is the classic
// request smuggling vector (RFC 9112 6.1, 11.2): a front end that frames by
// Content-Length and ficus, which frames by Transfer-Encoding as net/http
// does, would disagree on where the request ends. nginx refuses such a
// request with 400 and closes the connection; ficus does the same. net/http
// deletes the Content-Length header of a chunked request before a handler
// sees it, so the listener keeps a window of the most recent bytes each
// connection received, and the handler of a chunked request looks for its
// own head there.

// HeadWindow is how many of a connection's most recent bytes are kept. A
// head is fully read, at most a buffer's worth (4 KiB) before the handler
// runs, so a chunked request's head up to about 28 KiB can be checked;
// nginx accepts heads of at most 32 KiB by default.
const HeadWindow = 32 << 10

// ErrHeadUnverifiable means the chunked request's head is no longer in the
// window (too large, or read ahead with pipelined requests).
var ErrHeadUnverifiable = errors.New("chunked request head too large to check for Content-Length")

// ErrContentLengthWithChunked means the request had both framings.
var ErrContentLengthWithChunked = errors.New("request has both Content-Length and Transfer-Encoding")

type windowKey struct{}

// recordingListener wraps accepted connections in recConn.
type recordingListener struct{ net.Listener }

func (l recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &recConn{Conn: c}, nil
}

// recConn keeps the last HeadWindow bytes read in a ring that grows as
// needed, so connections that only send small heads keep a small buffer.
type recConn struct {
	net.Conn
	mu    sync.Mutex // Read runs on the server's goroutines, checks on the handler's
	ring  []byte
	w     int // next write position in ring
	valid int // bytes of ring holding data
}

func (c *recConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.record(p[:n])
		c.mu.Unlock()
	}
	return n, err
}

func (c *recConn) record(p []byte) {
	if len(p) >= HeadWindow {
		if len(c.ring) < HeadWindow {
			c.ring = make([]byte, HeadWindow)
		}
		copy(c.ring, p[len(p)-HeadWindow:])
		c.w, c.valid = 0, HeadWindow
		return
	}
	if c.valid+len(p) > len(c.ring) && len(c.ring) < HeadWindow {
		size := max(4<<10, 2*len(c.ring))
		for size < c.valid+len(p) && size < HeadWindow {
			size *= 2
		}
		old := c.linear()
		c.ring = make([]byte, min(size, HeadWindow))
		c.w, c.valid = copy(c.ring, old), len(old)
	}
	for len(p) > 0 {
		k := copy(c.ring[c.w:], p)
		p = p[k:]
		c.w = (c.w + k) % len(c.ring)
		c.valid = min(c.valid+k, len(c.ring))
	}
}

// linear returns the window's bytes in order (a copy).
func (c *recConn) linear() []byte {
	out := make([]byte, 0, c.valid)
	if c.valid < len(c.ring) {
		return append(out, c.ring[c.w-c.valid:c.w]...)
	}
	out = append(out, c.ring[c.w:]...)
	return append(out, c.ring[:c.w]...)
}

// FramingConflict checks a chunked request (r.TransferEncoding set) served
// through Run for a Content-Length in its head. It returns nil when the
// request is not chunked or was not received through Run's listener.
func FramingConflict(r *http.Request) error {
	if len(r.TransferEncoding) == 0 {
		return nil
	}
	c, _ := r.Context().Value(windowKey{}).(*recConn)
	if c == nil {
		return nil
	}
	c.mu.Lock()
	win := c.linear()
	c.mu.Unlock()
	return headConflict(win, r.Method+" "+r.RequestURI+" "+r.Proto)
}

// headConflict finds every head in win that starts with the request line
// and reports a Content-Length in any of them. Body bytes that merely look
// like the same head can only cause a refusal, never let one through.
func headConflict(win []byte, requestLine string) error {
	line := []byte(requestLine)
	found := false
	for i := 0; ; {
		k := bytes.Index(win[i:], line)
		if k < 0 {
			break
		}
		at := i + k
		i = at + 1
		if at > 0 && win[at-1] != '\n' {
			continue // not at the start of a line
		}
		hasCL, complete := scanHead(win[at+len(line):])
		if !complete {
			continue
		}
		found = true
		if hasCL {
			return ErrContentLengthWithChunked
		}
	}
	if !found {
		return ErrHeadUnverifiable
	}
	return nil
}

// scanHead reads header lines after a request line (starting with its line
// ending) up to the empty line.
func scanHead(b []byte) (hasCL, complete bool) {
	rest, ok := cutLine(b)
	if !ok {
		return false, false
	}
	for {
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			return hasCL, false
		}
		l := bytes.TrimSuffix(rest[:nl], []byte("\r"))
		rest = rest[nl+1:]
		if len(l) == 0 {
			return hasCL, true
		}
		if name, _, ok := bytes.Cut(l, []byte(":")); ok &&
			bytes.EqualFold(bytes.TrimRight(name, " \t"), []byte("Content-Length")) {
			hasCL = true
		}
	}
}

// cutLine consumes the line ending right after the request line.
func cutLine(b []byte) ([]byte, bool) {
	switch {
	case bytes.HasPrefix(b, []byte("\r\n")):
		return b[2:], true
	case bytes.HasPrefix(b, []byte("\n")):
		return b[1:], true
	}
	return b, false
}

// connContext hands the recording connection to its requests.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if rc, ok := c.(*recConn); ok {
		return context.WithValue(ctx, windowKey{}, rc)
	}
	return ctx
}
