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
	"time"

	"github.com/ficus-migrate/ficus/proxy/upstream"
)

// rawClient sends mirrored requests to plain-http sides over raw keep-alive
// connections on the worker's own goroutine, like the proxy's fast path:
// http.Transport's two goroutines per connection and their hand-offs were
// the largest share of the mirror's CPU. It adds nothing to the request
// (no User-Agent, no Accept-Encoding), so the shadow side sees the headers
// the primary side saw, plus Ficus-Shadow.
type rawClient struct {
	pool     *upstream.Pool
	timeouts upstream.Timeouts
}

func newRawClient(log *slog.Logger, perHost int) *rawClient {
	return &rawClient{
		pool:     upstream.NewPool(upstream.Config{MaxIdleConnsPerHost: perHost, Logger: log}),
		timeouts: upstream.Timeouts{Connect: 5 * time.Second, Idle: 90 * time.Second},
	}
}

// do sends one request; the caller reads resp.Body to the end and then
// calls finish(clean), which recycles or closes the connection.
func (c *rawClient) do(ctx context.Context, method string, u *url.URL, hdr http.Header, body []byte) (*http.Response, func(bool), error) {
	conns := c.pool.Conns(upstream.Target{URL: u}, c.timeouts)
	if conns == nil {
		return nil, nil, errors.New("raw client: not a plain-http URL")
	}
	cn, err := conns.Get(ctx)
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.exchange(ctx, cn, method, u, hdr, body)
	if err != nil && cn.Reused && ctx.Err() == nil && idempotent(method) {
		// Most likely a keep-alive connection the side closed meanwhile.
		if cn, err = conns.Dial(ctx); err == nil {
			resp, err = c.exchange(ctx, cn, method, u, hdr, body)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	finish := func(clean bool) {
		if !clean || ctx.Err() != nil || resp.Close || resp.StatusCode == http.StatusSwitchingProtocols ||
			cn.R.Buffered() > 0 || cn.SetDeadline(time.Time{}) != nil {
			_ = cn.Close()
			return
		}
		conns.Put(cn)
	}
	return resp, finish, nil
}

// exchange writes the request and reads the response headers; on error the
// connection is closed. ctx's deadline (the route's timeout) bounds the
// whole exchange, body included; a cancelled ctx (shutdown) is noticed
// between exchanges only, which the same deadline keeps short. Watching it
// with context.AfterFunc cost more than the rest of the exchange allocates.
func (c *rawClient) exchange(ctx context.Context, cn *upstream.Conn, method string, u *url.URL,
	hdr http.Header, body []byte) (*http.Response, error) {
	err := ctx.Err()
	if err == nil {
		dl, ok := ctx.Deadline()
		if !ok {
			dl = time.Now().Add(c.timeouts.Connect) // never unbounded
		}
		err = cn.SetDeadline(dl)
	}
	if err == nil {
		writeRequest(cn.W, method, u, hdr, body)
		err = cn.W.Flush()
	}
	var resp *http.Response
	if err == nil {
		resp, err = readFinal(cn.R, method)
	}
	if err != nil {
		_ = cn.Close()
		return nil, err
	}
	return resp, nil
}

// readFinal skips informational (1xx) answers.
func readFinal(r *bufio.Reader, method string) (*http.Response, error) {
	req := &http.Request{Method: method}
	for {
		resp, err := http.ReadResponse(r, req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, nil
		}
	}
}

func writeRequest(bw *bufio.Writer, method string, u *url.URL, hdr http.Header, body []byte) {
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
