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
	"sync"
	"time"

	"github.com/ficus-migrate/ficus/proxy/route"
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
	body502, body504   []byte
	len502, len504     []string
}

func (p *Proxy) newSideHandler(name string, side route.Side, target *url.URL, t upstream.Timeouts,
	rewrite *route.Route, st *sideStats) *sideHandler {
	tgt := upstream.Target{Route: name, Side: side.String(), URL: target}
	conns := p.pool.Conns(tgt, t)
	h := &sideHandler{
		hookTgt:   tgt,
		routeName: name,
		side:      side,
		target:    target,
		rewrite:   rewrite,
		m:         p.metrics.resolve(name, side.String(), st),
		log:       p.log.With("route", name, "side", side.String()),
		servedBy:  []string{side.String()},
		routeVal:  []string{name},
		conns:     conns,
		buffers:   p.buffers,
	}
	if conns != nil {
		h.tapper = p.pool.Tapper(tgt)
	}
	h.body502 = errorBody("upstream unreachable", name, side)
	h.body504 = errorBody("upstream timeout", name, side)
	h.len502 = []string{strconv.Itoa(len(h.body502))}
	h.len504 = []string{strconv.Itoa(len(h.body504))}
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
	// Backends must not be able to spoof which side served a request.
	delete(resp.Header, servedByKey)
	delete(resp.Header, routeKey)
	h.m.countStatus(resp.StatusCode)
	return nil
}

func (h *sideHandler) handleError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		// The client went away; nobody reads the answer and the upstream is
		// not to blame, so neither count nor log it as an upstream error.
		return
	}
	code, body, clen := http.StatusBadGateway, h.body502, h.len502
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
	w.WriteHeader(code)
	_, _ = w.Write(body)
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
