package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ficus-migrate/ficus/proxy/route"
	"github.com/ficus-migrate/ficus/proxy/rules"
	"github.com/ficus-migrate/ficus/proxy/upstream"
)

const (
	servedByKey = "Ficus-Served-By"
	routeKey    = "Ficus-Route"
	bufSize     = 32 << 10
)

// sideHandler proxies to one side of one route. Everything that would
// otherwise be computed per request (header values, error bodies, metric
// children, the ReverseProxy and its hooks) is built once at table compile.
type sideHandler struct {
	routeName string
	side      route.Side
	target    *url.URL
	rewrite   *route.Route // non-nil only when the new side rewrites paths
	rp        httputil.ReverseProxy
	conns     *upstream.Conns // nil: every request takes rp
	// tapper, when set, watches this side's fast-path exchanges (shadow).
	tapper  upstream.Tapper
	hookTgt upstream.Target
	buffers *bufferPool
	m       sideMetrics
	log     *slog.Logger

	servedBy, routeVal []string // len == cap == 1: appends never alias
	servedByOn         bool     // Config.ServedByHeader
	clientErr          func(w http.ResponseWriter, route string, f *clientFault)
	discarded          func(reason string)
	body502, body504   []byte
	len502, len504     []string
	bodyHdr            []byte // 502 for a response head over its limit
}

func (p *Proxy) newSideHandler(name string, side route.Side, target *url.URL, t upstream.Timeouts,
	rewrite *route.Route, st *sideStats) *sideHandler {
	tgt := upstream.Target{Route: name, Side: side.String(), URL: target}
	conns := p.pool.Conns(tgt, t)
	h := &sideHandler{
		hookTgt:    tgt,
		routeName:  name,
		side:       side,
		target:     target,
		rewrite:    rewrite,
		m:          p.metrics.resolve(name, side.String(), st),
		log:        p.log.With("route", name, "side", side.String()),
		servedBy:   []string{side.String()},
		servedByOn: p.cfg.ServedByHeader,
		clientErr:  p.clientError,
		discarded:  p.metrics.countDiscard,
		routeVal:   []string{name},
		conns:      conns,
		buffers:    p.buffers,
	}
	if conns != nil {
		h.tapper = p.pool.Tapper(tgt)
	}
	h.body502 = errorBody("upstream unreachable", name, side)
	h.body504 = errorBody("upstream timeout", name, side)
	h.len502 = []string{strconv.Itoa(len(h.body502))}
	h.len504 = []string{strconv.Itoa(len(h.body504))}
	h.bodyHdr = errorBody("upstream response header too large", name, side)
	h.rp = httputil.ReverseProxy{
		Rewrite:        h.rewriteRequest,
		Transport:      p.pool.RoundTripper(tgt, t),
		BufferPool:     p.buffers,
		ErrorHandler:   h.handleError,
		ModifyResponse: h.modifyResponse,
		ErrorLog:       p.errorLog,
	}
	return h
}

func errorBody(msg, name string, side route.Side) []byte {
	b, _ := json.Marshal(struct {
		Error    string `json:"error"`
		Route    string `json:"route"`
		Upstream string `json:"upstream"`
	}{msg, name, side.String()})
	return append(b, '\n')
}

func (h *sideHandler) rewriteRequest(pr *httputil.ProxyRequest) {
	if h.rewrite != nil {
		in, out := pr.In.URL, pr.Out.URL
		out.Path = h.rewrite.RewritePath(in.Path)
		if in.RawPath != "" {
			// EscapedPath ignores RawPath when it does not encode Path, so a
			// raw path the prefixes do not apply to cleanly is simply dropped.
			out.RawPath = h.rewrite.RewritePath(in.RawPath)
		}
	}
	pr.SetURL(h.target)
	// Keep the client-supplied chain; SetXForwarded appends this hop's peer.
	if prior := pr.In.Header["X-Forwarded-For"]; prior != nil {
		pr.Out.Header["X-Forwarded-For"] = prior
	}
	pr.SetXForwarded()
}

func (h *sideHandler) modifyResponse(resp *http.Response) error {
	for k := range resp.Header {
		if isResponseSkip(k) {
			delete(resp.Header, k)
		}
	}
	h.m.countStatus(resp.StatusCode)
	return nil
}

// isResponseSkip reports upstream response headers never relayed, on both
// paths: ficus's own namespace, so a backend cannot spoof which side served
// a request.
func isResponseSkip(k string) bool { return rules.IsFicusHeader(k) }

// finalHeaders applies the response rules when the final status is written
// (after any 1xx, whose header map net/http clears): a body without a
// Content-Type is relayed without one, never with a sniffed type, and the
// served-by headers are added.
func (h *sideHandler) finalHeaders(hdr http.Header) {
	if _, ok := hdr["Content-Type"]; !ok {
		hdr["Content-Type"] = nil // tells net/http not to sniff one
	}
	if h.servedByOn {
		hdr[servedByKey] = h.servedBy
		hdr[routeKey] = h.routeVal
	}
}

// finalWriter applies finalHeaders on the ReverseProxy path.
type finalWriter struct {
	http.ResponseWriter
	h    *sideHandler
	body *clientBody // a streamed request body, or nil
}

func (fw *finalWriter) WriteHeader(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols {
		fw.h.finalHeaders(fw.Header())
	}
	fw.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (flush, hijack).
func (fw *finalWriter) Unwrap() http.ResponseWriter { return fw.ResponseWriter }

func (h *sideHandler) handleError(w http.ResponseWriter, r *http.Request, err error) {
	var fault *clientFault
	if fw, ok := w.(*finalWriter); ok && fw.body != nil {
		fault = fw.body.fault.Load()
	}
	if fault != nil || errors.As(err, &fault) {
		// The request body failed on its way upstream: the client's doing.
		h.clientErr(w, h.routeName, fault)
		return
	}
	if r.Context().Err() != nil {
		// The client went away; nobody reads the answer and the upstream is
		// not to blame, so neither count nor log it as an upstream error.
		return
	}
	code, body, clen := http.StatusBadGateway, h.body502, h.len502
	if isHeaderTooLarge(err) {
		body, clen = h.bodyHdr, []string{strconv.Itoa(len(h.bodyHdr))}
	}
	if isTimeout(err) {
		code, body, clen = http.StatusGatewayTimeout, h.body504, h.len504
		h.m.timeout.Inc()
		h.m.stats.timeout.Add(1)
		h.log.Warn("upstream timeout", "err", err)
	} else {
		h.m.unreachable.Inc()
		h.m.stats.unreachable.Add(1)
		h.log.Warn("upstream unreachable", "err", err)
	}
	h.m.countStatus(code)
	hdr := w.Header()
	hdr["Content-Type"] = jsonContentType
	hdr["Content-Length"] = clen
	hdr["Cache-Control"] = noStore
	h.finalHeaders(hdr)
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// isHeaderTooLarge: the upstream's response head was over the limit, on
// either path.
func isHeaderTooLarge(err error) bool {
	return errors.Is(err, upstream.ErrResponseHeaderTooLarge) ||
		strings.Contains(err.Error(), "server response headers exceeded")
}

var (
	jsonContentType = []string{"application/json"}
	noStore         = []string{"no-store"}
)

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// observe records the request duration; deferred so it also runs when the
// ReverseProxy aborts a broken response stream with http.ErrAbortHandler.
func (h *sideHandler) observe(start time.Time) {
	h.m.duration.Observe(time.Since(start).Seconds())
}

// bufferPool hands ReverseProxy 32 KiB copy buffers. Storing array pointers
// keeps Put allocation-free (a []byte in an interface would escape).
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[bufSize]byte); ok {
		return v[:]
	}
	return new([bufSize]byte)[:]
}

func (b *bufferPool) Put(buf []byte) {
	if len(buf) == bufSize {
		b.p.Put((*[bufSize]byte)(buf))
	}
}
