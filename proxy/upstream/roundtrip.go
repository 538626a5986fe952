package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync"
	"time"
)

// http.Transport returns a keep-alive connection to its idle pool before it
// looks for bytes the backend sent beyond the answer (its readLoop puts the
// connection back, then peeks): a request of another client can take the
// connection in between and read a stray response as its own answer. So
// requests that the fast path does not take (those with bodies, those to
// https backends, those of hooks that cannot tap) go through
// connRoundTripper, over Conns (TLS for https, HTTP/1.1 only) with the same
// reuse rules as the fast path. Upgrades (WebSocket) keep http.Transport:
// an upgraded connection is handed over whole.

// maxInformational bounds the 1xx answers read before the final one, so a
// backend cannot keep an exchange going with an endless stream of them.
const maxInformational = 16

// ReadFinal reads answers to req until the final one: each informational
// (1xx, not 101) answer is handed to on1xx (which may be nil) and counted in
// info. The caller handles a 101.
func (cn *Conn) ReadFinal(req *http.Request, on1xx func(code int, h http.Header) error) (resp *http.Response, info int, err error) {
	for {
		resp, err := cn.ReadResponse(req)
		if err != nil {
			return nil, info, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, info, nil
		}
		if info++; info > maxInformational {
			return nil, info, fmt.Errorf("upstream sent more than %d informational answers", maxInformational)
		}
		if on1xx != nil {
			if err := on1xx(resp.StatusCode, resp.Header); err != nil {
				return nil, info, err
			}
		}
	}
}

// connRoundTripper is an http.RoundTripper over Conns; upgrades go to
// fallback.
type connRoundTripper struct {
	conns    *Conns
	fallback http.RoundTripper
}

var aLongTimeAgo = time.Unix(1, 0)

func (t *connRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header["Upgrade"] != nil {
		return t.fallback.RoundTrip(req)
	}
	ctx := req.Context()
	cn, err := t.conns.Get(ctx)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := t.exchange(ctx, cn, req)
	if err != nil && cn.Reused && ctx.Err() == nil && !errors.Is(err, ErrResponseHeaderTooLarge) && rewindable(req) {
		// Most likely a keep-alive connection the backend closed meanwhile;
		// the request can be sent again as it was.
		if req, err = rewound(req); err == nil {
			if cn, err = t.conns.Dial(ctx); err == nil {
				resp, err = t.exchange(ctx, cn, req)
			}
		}
	}
	if err != nil {
		closeBody(req)
		return nil, err
	}
	return resp, nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// rewindable: the request may be sent again, as http.Transport decides it:
// nothing of a body is lost, and the method is safe (or the client marked
// the request idempotent) — a POST the backend may have acted on before the
// connection failed is never sent twice.
func rewindable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return req.Header["Idempotency-Key"] != nil || req.Header["X-Idempotency-Key"] != nil
}

func rewound(req *http.Request) (*http.Request, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	r2 := *req
	r2.Body = body
	return &r2, nil
}

// exchange writes req on cn and reads the final answer's head; the body is
// relayed by the returned response, which recycles or closes cn when done.
func (t *connRoundTripper) exchange(ctx context.Context, cn *Conn, req *http.Request) (*http.Response, error) {
	stop := context.AfterFunc(ctx, func() { _ = cn.SetDeadline(aLongTimeAgo) })
	fail := func(err error) (*http.Response, error) {
		stop()
		_ = cn.Close()
		return nil, err
	}
	// The body is written before the answer is read: a backend that answers
	// early and stops reading a large body fails the exchange instead of
	// having its answer relayed (bodies up to the proxy's request buffer fit
	// in the sockets' buffers, so this concerns streamed bodies only).
	if err := req.Write(cn.W); err != nil {
		return fail(err)
	}
	if err := cn.W.Flush(); err != nil {
		return fail(err)
	}
	if d := t.conns.timeouts.ResponseHeader; d > 0 {
		if err := cn.SetReadDeadline(time.Now().Add(d)); err != nil {
			return fail(err)
		}
	}
	var on1xx func(int, http.Header) error
	if trace := httptrace.ContextClientTrace(ctx); trace != nil && trace.Got1xxResponse != nil {
		on1xx = func(code int, h http.Header) error { return trace.Got1xxResponse(code, textproto.MIMEHeader(h)) }
	}
	resp, info, err := cn.ReadFinal(req, on1xx)
	if err != nil {
		return fail(err)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return fail(errors.New("upstream switched protocols on a request without Upgrade"))
	}
	if err := cn.SetReadDeadline(time.Time{}); err != nil { // bodies are never time-limited
		return fail(err)
	}
	b := &connBody{body: resp.Body, cn: cn, conns: t.conns, stop: stop,
		reuse: !resp.Close && info == 0 && !BodyForbidden(req.Method, resp.StatusCode)}
	if resp.Body == http.NoBody {
		b.release(true)
		return resp, nil
	}
	resp.Body = b
	return resp, nil
}

// connBody relays an answer's body and then decides the connection's fate:
// back to the pool only after a clean end with nothing left over.
type connBody struct {
	body  io.ReadCloser
	cn    *Conn
	conns *Conns
	stop  func() bool
	reuse bool

	once sync.Once
}

func (b *connBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	switch {
	case err == io.EOF:
		b.release(true)
	case err != nil:
		b.release(false)
	}
	return n, err
}

// Close before the end abandons the rest of the body with the connection.
func (b *connBody) Close() error {
	b.release(false)
	return nil
}

func (b *connBody) release(clean bool) {
	b.once.Do(func() {
		live := b.stop()
		switch {
		case b.cn.R.Buffered() > 0:
			_ = b.cn.Close()
			b.conns.onDiscard(DiscardUnsolicited)
		case !clean || !live || !b.reuse:
			_ = b.cn.Close()
		default:
			b.conns.Put(b.cn)
		}
	})
}
