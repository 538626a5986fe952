package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ficus-migrate/ficus/proxy/upstream"
)

// The fast path proxies body-less GET and HEAD requests to plain-http
// upstreams on the handler's own goroutine over a raw keep-alive connection.
// It reproduces what httputil.ReverseProxy (in Rewrite mode) does to headers
// and errors, byte for byte where it matters; everything else (bodies,
// upgrades, https upstreams, hooks that cannot tap) takes the ReverseProxy
// path. A shadowed route keeps the fast path: its upstream.Tapper gets the
// outgoing request and the answer as the client is sent it.

// fastEligible reports whether r can take the fast path.
func fastEligible(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		r.ContentLength == 0 && (r.Body == nil || r.Body == http.NoBody) &&
		r.Header["Upgrade"] == nil && len(r.TransferEncoding) == 0
}

func (h *sideHandler) serveFast(w http.ResponseWriter, r *http.Request) {
	var tap upstream.Tap
	if h.tapper != nil && h.tapper.Watches(h.hookTgt, r) {
		tap = h.tapper.Tap(h.hookTgt, h.outRequest(r))
	}
	ctx := r.Context()
	cn, err := h.conns.Get(ctx)
	if err != nil {
		if tap != nil {
			tap.Done(false)
		}
		h.handleError(w, r, err)
		return
	}
	ex, err := h.exchange(ctx, w, r, cn)
	if err != nil && cn.Reused && ctx.Err() == nil && !isTimeout(err) && !isHeaderTooLarge(err) {
		// Most likely the backend closed the idle keep-alive connection;
		// GET and HEAD are idempotent, so retry once on a fresh one.
		if cn, err = h.conns.Dial(ctx); err == nil {
			ex, err = h.exchange(ctx, w, r, cn)
		}
	}
	if err != nil {
		if tap != nil {
			tap.Done(false)
		}
		h.handleError(w, r, err)
		return
	}
	h.relay(w, r.Method, ex, tap)
}

// exchange is one request/response-headers round trip on cn; on error cn
// is closed, on success the caller must relay the body.
type exchange struct {
	cn   *upstream.Conn
	resp *http.Response
	stop func() bool
	// informational: a 1xx came first. Such exchanges are rare and their
	// framing unusual, so the connection is not reused.
	informational bool
}

func (h *sideHandler) exchange(ctx context.Context, w http.ResponseWriter, r *http.Request, cn *upstream.Conn) (exchange, error) {
	// A client that goes away (or a shutdown) must not leave us blocked on
	// the upstream, before or during the body: expiring the connection's
	// deadlines unblocks its I/O. The connection is then not reused.
	stop := context.AfterFunc(ctx, func() { _ = cn.SetDeadline(aLongTimeAgo) })
	resp, info, err := h.roundTrip(w, cn, r)
	if err != nil {
		stop()
		_ = cn.Close()
		return exchange{}, err
	}
	return exchange{cn: cn, resp: resp, stop: stop, informational: info}, nil
}

var aLongTimeAgo = time.Unix(1, 0)

// roundTrip writes r and reads the final response's headers; info reports
// an informational answer before it.
func (h *sideHandler) roundTrip(w http.ResponseWriter, cn *upstream.Conn, r *http.Request) (resp *http.Response, info bool, err error) {
	h.writeRequest(cn.W, r)
	if err := cn.W.Flush(); err != nil {
		return nil, false, err
	}
	t := h.conns.Timeouts().ResponseHeader
	if t > 0 {
		if err := cn.SetReadDeadline(time.Now().Add(t)); err != nil {
			return nil, false, err
		}
	}
	resp, n, err := cn.ReadFinal(r, func(code int, h http.Header) error {
		// Informational (e.g. 103 Early Hints): passed on as ReverseProxy does.
		hdr := w.Header()
		for k, vv := range h {
			if !isResponseSkip(k) {
				hdr[k] = vv
			}
		}
		w.WriteHeader(code)
		clear(hdr)
		return nil
	})
	info = n > 0
	if err != nil {
		return nil, info, err
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return nil, info, errors.New("upstream switched protocols on a request without Upgrade")
	}
	// Bodies (SSE, downloads) are never time-limited. A body already
	// fully buffered needs no more reads, so the deadline can stay (the
	// next exchange sets its own): one fewer timer update per request.
	if t > 0 && (resp.ContentLength < 0 || int64(cn.R.Buffered()) < resp.ContentLength) {
		if err := cn.SetReadDeadline(time.Time{}); err != nil {
			return nil, info, err
		}
	}
	return resp, info, nil
}

// isHop reports the hop-by-hop headers ReverseProxy removes in both
// directions (RFC 9110 7.6.1). Header keys are canonical here.
func isHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// isReqSkip reports request headers Rewrite mode drops or we write ourselves.
func isReqSkip(k string) bool {
	switch k {
	case "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Content-Length", "Host":
		return true
	}
	return false
}

// outURL is the path and query sent upstream for r.
func (h *sideHandler) outURL(r *http.Request) url.URL {
	in := r.URL
	out := url.URL{Path: in.Path, RawPath: in.RawPath, RawQuery: in.RawQuery, ForceQuery: in.ForceQuery}
	if h.rewrite != nil {
		out.Path = h.rewrite.RewritePath(in.Path)
		out.RawPath = ""
		if in.RawPath != "" {
			out.RawPath = h.rewrite.RewritePath(in.RawPath)
		}
	}
	out.Path, out.RawPath = joinURLPath(h.target, &out)
	return out
}

// outRequest builds, for a Tapper, the request writeRequest sends: same
// URL and header fields, in a header map of its own.
func (h *sideHandler) outRequest(r *http.Request) *http.Request {
	u := h.outURL(r)
	u.Scheme, u.Host = h.target.Scheme, h.target.Host
	hdr := r.Header.Clone()
	if hdr == nil {
		hdr = make(http.Header, 3)
	}
	conn := r.Header["Connection"]
	for k := range hdr {
		if isHop(k) || isReqSkip(k) || (conn != nil && namedIn(k, conn)) {
			delete(hdr, k)
		}
	}
	if te := r.Header["Te"]; te != nil && hasToken(te, "trailers") {
		hdr["Te"] = []string{"trailers"}
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if prior := r.Header["X-Forwarded-For"]; len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		hdr["X-Forwarded-For"] = []string{ip}
	}
	hdr["X-Forwarded-Host"] = []string{r.Host}
	if r.TLS != nil {
		hdr["X-Forwarded-Proto"] = []string{"https"}
	} else {
		hdr["X-Forwarded-Proto"] = []string{"http"}
	}
	return &http.Request{Method: r.Method, URL: &u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: hdr, Host: h.target.Host, Body: http.NoBody, RemoteAddr: r.RemoteAddr}
}

// writeRequest serialises the outgoing request without building one: the
// incoming header map is read, never cloned.
func (h *sideHandler) writeRequest(bw *bufio.Writer, r *http.Request) {
	out := h.outURL(r)
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	if p := out.EscapedPath(); p != "" {
		bw.WriteString(p)
	} else {
		bw.WriteByte('/')
	}
	if out.ForceQuery || out.RawQuery != "" {
		bw.WriteByte('?')
		bw.WriteString(out.RawQuery)
	}
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(h.target.Host)
	bw.WriteString("\r\n")
	conn := r.Header["Connection"]
	for k, vv := range r.Header {
		if isHop(k) || isReqSkip(k) || (conn != nil && namedIn(k, conn)) {
			continue
		}
		for _, v := range vv {
			writeField(bw, k, v)
		}
	}
	if te := r.Header["Te"]; te != nil && hasToken(te, "trailers") {
		writeField(bw, "Te", "trailers")
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		bw.WriteString("X-Forwarded-For: ")
		for _, v := range r.Header["X-Forwarded-For"] {
			bw.WriteString(v)
			bw.WriteString(", ")
		}
		bw.WriteString(ip)
		bw.WriteString("\r\n")
	}
	writeField(bw, "X-Forwarded-Host", r.Host)
	if r.TLS != nil {
		writeField(bw, "X-Forwarded-Proto", "https")
	} else {
		writeField(bw, "X-Forwarded-Proto", "http")
	}
	bw.WriteString("\r\n")
}

func writeField(bw *bufio.Writer, k, v string) {
	bw.WriteString(k)
	bw.WriteString(": ")
	bw.WriteString(v)
	bw.WriteString("\r\n")
}

// namedIn reports whether header key k is listed in a Connection header.
func namedIn(k string, conn []string) bool {
	for _, line := range conn {
		for line != "" {
			var tok string
			tok, line, _ = strings.Cut(line, ",")
			if strings.EqualFold(strings.TrimSpace(tok), k) {
				return true
			}
		}
	}
	return false
}

func hasToken(lines []string, tok string) bool {
	for _, line := range lines {
		for line != "" {
			var t string
			t, line, _ = strings.Cut(line, ",")
			if t, _, _ = strings.Cut(t, ";"); strings.EqualFold(strings.TrimSpace(t), tok) {
				return true
			}
		}
	}
	return false
}

// joinURLPath is httputil's (unexported) path join used by ProxyRequest.SetURL.
func joinURLPath(a, b *url.URL) (path, rawpath string) {
	if a.RawPath == "" && b.RawPath == "" {
		return singleJoiningSlash(a.Path, b.Path), ""
	}
	apath, bpath := a.EscapedPath(), b.EscapedPath()
	aslash, bslash := strings.HasSuffix(apath, "/"), strings.HasPrefix(bpath, "/")
	switch {
	case aslash && bslash:
		return a.Path + b.Path[1:], apath + bpath[1:]
	case !aslash && !bslash:
		return a.Path + "/" + b.Path, apath + "/" + bpath
	}
	return a.Path + b.Path, apath + bpath
}

func singleJoiningSlash(a, b string) string {
	if a == "" {
		return b // the common case, without allocating
	}
	aslash, bslash := strings.HasSuffix(a, "/"), strings.HasPrefix(b, "/")
	switch {
	case aslash && bslash:
		return a + b[1:]
	case !aslash && !bslash:
		return a + "/" + b
	}
	return a + b
}

// relay copies the response to the client and recycles the connection when
// the exchange ended cleanly.
func (h *sideHandler) relay(w http.ResponseWriter, method string, ex exchange, tap upstream.Tap) {
	cn, resp := ex.cn, ex.resp
	hdr := w.Header()
	conn := resp.Header["Connection"]
	for k, vv := range resp.Header {
		if isHop(k) || (conn != nil && namedIn(k, conn)) || isResponseSkip(k) {
			continue
		}
		hdr[k] = vv // resp is ours alone: no copy needed
	}
	h.finalHeaders(hdr)
	h.m.countStatus(resp.StatusCode)
	announced := len(resp.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		hdr["Trailer"] = []string{strings.Join(keys, ", ")}
	}
	w.WriteHeader(resp.StatusCode)
	if tap != nil {
		tap.Response(resp.StatusCode, resp.Header)
	}
	err := h.copyBody(w, resp, tap)
	if tap != nil {
		tap.Done(err == nil)
	}
	live := ex.stop()
	if err != nil {
		_ = cn.Close()
		// Same as ReverseProxy: abort so the client sees a truncated
		// response rather than a complete-looking one.
		panic(http.ErrAbortHandler)
	}
	for k, vv := range resp.Trailer {
		if len(resp.Trailer) != announced {
			k = http.TrailerPrefix + k
		}
		hdr[k] = vv
	}
	switch {
	case cn.R.Buffered() > 0:
		// More than the framing announced: never the next request's answer.
		_ = cn.Close()
		h.discarded(upstream.DiscardUnsolicited)
	case !live || resp.Close || ex.informational || upstream.BodyForbidden(method, resp.StatusCode):
		// A body-less answer (HEAD, 204, 304) whose backend sent one anyway
		// would leave it on the connection; such answers are not worth the
		// risk of reusing it.
		_ = cn.Close()
	default:
		h.conns.Put(cn)
	}
}

// copyBody streams the body; like ReverseProxy it flushes after every write
// for event streams and bodies of unknown length, so SSE is never delayed.
func (h *sideHandler) copyBody(w http.ResponseWriter, resp *http.Response, tap upstream.Tap) error {
	ct := resp.Header["Content-Type"]
	flush := resp.ContentLength == -1 || (len(ct) > 0 && strings.HasPrefix(ct[0], "text/event-stream"))
	buf := h.buffers.Get()
	defer h.buffers.Put(buf)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if tap != nil {
				tap.Write(buf[:n])
			}
			if flush {
				if err := http.NewResponseController(w).Flush(); err != nil {
					return err
				}
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}
