package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Client faults are the client's: a request ficus refuses because of what
// the client sent (or failed to send) is answered by ficus itself, counted
// as ficus_proxy_client_errors_total{route,reason}, and never counted as
// an error of the side that would have served it — so it can never move a
// rollout gate.

// clientFault is one refused request.
type clientFault struct {
	status int
	reason string // the metric's reason label
	msg    string
}

func (f *clientFault) Error() string { return "client error: " + f.msg }

// Reasons, the values of the reason label.
const (
	reasonBadPath      = "bad_path"
	reasonFraming      = "bad_framing"
	reasonBodyTimeout  = "body_timeout"
	reasonBodyTooLarge = "body_too_large"
	reasonClientClosed = "client_closed"
)

func faultTooLarge() *clientFault {
	return &clientFault{http.StatusRequestEntityTooLarge, reasonBodyTooLarge, "request body too large"}
}

// classifyBodyError turns a failed read of the request body into a fault.
func classifyBodyError(err error) *clientFault {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return &clientFault{http.StatusRequestTimeout, reasonBodyTimeout, "request body timed out"}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed), errors.As(err, new(*net.OpError)):
		return &clientFault{http.StatusBadRequest, reasonClientClosed, "client closed the connection mid-body"}
	}
	// net/http's chunked reader: bad chunk sizes, missing CRLFs, ...
	return &clientFault{http.StatusBadRequest, reasonFraming, "malformed request body: " + err.Error()}
}

// clientBody reads a request body with a limit on its size and on each wait
// for more of it, and remembers the first fault.
type clientBody struct {
	body    io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	left    int64 // bytes still allowed; < 0: no limit
	// fault is set by whichever goroutine reads (the transport's writer
	// when the body is streamed) and read by the handler.
	fault atomic.Pointer[clientFault]
}

func (b *clientBody) Read(p []byte) (int, error) {
	if f := b.fault.Load(); f != nil {
		return 0, f
	}
	if b.timeout > 0 {
		_ = b.rc.SetReadDeadline(time.Now().Add(b.timeout))
	}
	n, err := b.body.Read(p)
	if b.left >= 0 {
		if int64(n) > b.left {
			n, b.left = int(b.left), 0
			return n, b.fail(faultTooLarge())
		}
		b.left -= int64(n)
	}
	switch {
	case err == io.EOF:
		// The deadline must not outlive the body: net/http's background
		// read after it would cancel the request when it fires.
		_ = b.rc.SetReadDeadline(time.Time{})
	case err != nil:
		return n, b.fail(classifyBodyError(err))
	}
	return n, err
}

func (b *clientBody) fail(f *clientFault) *clientFault {
	b.fault.CompareAndSwap(nil, f)
	return b.fault.Load()
}

func (b *clientBody) Close() error { return b.body.Close() }

// prefixedBody replays the buffered start of a body, then streams the rest.
type prefixedBody struct {
	io.Reader
	rest io.Closer
}

func (b *prefixedBody) Close() error { return b.rest.Close() }

// readBody reads up to RequestBufferBytes of r's body before any upstream is
// contacted (as nginx's request buffering): a body that fits is checked
// whole (framing, size, timeouts) and forwarded with a Content-Length; a
// larger one is streamed after its buffered start, still under the same
// limits, and a fault mid-stream aborts the upstream request and is
// answered as the client's.
//
// It returns the body reader when the body is streamed (its fault, if any,
// is the client's), or the fault that refuses the request.
func (p *Proxy) readBody(w http.ResponseWriter, r *http.Request) (*clientBody, *clientFault) {
	if r.Body == nil || r.Body == http.NoBody || (r.ContentLength == 0 && len(r.TransferEncoding) == 0) {
		return nil, nil
	}
	limit := p.cfg.MaxRequestBodyBytes
	if limit > 0 && r.ContentLength > limit {
		return nil, faultTooLarge()
	}
	if limit <= 0 {
		limit = -1
	}
	cb := &clientBody{body: r.Body, rc: http.NewResponseController(w), timeout: p.cfg.ClientBodyTimeout, left: limit}
	want := p.cfg.RequestBufferBytes
	if r.ContentLength > 0 && r.ContentLength <= want {
		want = r.ContentLength
	}
	buf := make([]byte, 0, want+1)
	for int64(len(buf)) <= want {
		n, err := cb.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			_ = r.Body.Close()
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(buf)), int64(len(buf))
			// A whole body can be sent again (a stale keep-alive connection,
			// for the methods that may be retried).
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
			if len(buf) == 0 {
				r.Body, r.GetBody = http.NoBody, nil
			}
			if r.Trailer == nil {
				r.TransferEncoding = nil // forwarded with its length, as nginx does
			}
			return nil, nil
		}
		if err != nil {
			return nil, cb.fault.Load()
		}
	}
	r.Body = &prefixedBody{Reader: io.MultiReader(bytes.NewReader(buf), cb), rest: cb}
	return cb, nil
}

// clientError answers a refused request. The connection is closed: what is
// left of the request on it cannot be trusted to frame the next one.
func (p *Proxy) clientError(w http.ResponseWriter, routeName string, f *clientFault) {
	p.metrics.clientErrors.WithLabelValues(routeName, f.reason).Inc()
	p.mu.Lock()
	rs := p.stats[routeName]
	p.mu.Unlock()
	if rs != nil {
		rs.clientErrors.Add(1)
	}
	p.log.Info("client error", "route", routeName, "reason", f.reason, "status", f.status, "err", f.msg)
	body, _ := json.Marshal(struct {
		Error  string `json:"error"`
		Route  string `json:"route"`
		Reason string `json:"reason"`
	}{f.msg, routeName, f.reason})
	hdr := w.Header()
	clear(hdr)
	hdr["Content-Type"] = jsonContentType
	hdr["Cache-Control"] = noStore
	hdr["Connection"] = []string{"close"}
	if p.cfg.ServedByHeader {
		hdr[routeKey] = []string{routeName}
	}
	w.WriteHeader(f.status)
	_, _ = w.Write(append(body, '\n'))
}
