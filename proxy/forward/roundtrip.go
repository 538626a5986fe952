package forward

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/elazarl/goproxy"

	"github.com/ficus-migrate/ficus/proxy/route"
	"github.com/ficus-migrate/ficus/proxy/rules"
)

const (
	servedByKey = "Ficus-Served-By"
	routeKey    = "Ficus-Route"
)

// roundTripper is set as every request's goproxy.ProxyCtx.RoundTripper, for
// plain HTTP and for requests read from intercepted TLS sessions alike, so
// both get the same routing, limits, headers and error answers. It never
// returns an error: goproxy would answer plain requests with a text 500 and
// silently drop intercepted connections.
type roundTripper struct{ p *Proxy }

func (rt roundTripper) RoundTrip(req *http.Request, _ *goproxy.ProxyCtx) (*http.Response, error) {
	p := rt.p
	// The destination the client asked for, before routing: the same check
	// for plain requests and for those read from intercepted tunnels.
	if d := p.guard.checkRequest(req.URL.Host, req.URL.Scheme, req.URL.Hostname(), req.URL.Port()); d != nil {
		p.logDenied(d)
		return deniedResponse(req, d), nil
	}
	select {
	case p.sem <- struct{}{}:
	default:
		p.m.saturated.WithLabelValues("request").Inc()
		resp := jsonResponse(req, http.StatusServiceUnavailable, saturatedBody)
		resp.Header["Retry-After"] = []string{"1"}
		return resp, nil
	}
	release := sync.OnceFunc(func() { <-p.sem })

	// The same request rules as the reverse proxy: ficus's headers are its
	// own, and the route is chosen on the path the origin will resolve.
	rules.StripFicusHeaders(req.Header)
	if err := rules.CleanPath(req.URL); err != nil {
		release()
		return jsonResponse(req, http.StatusBadRequest, errorBody(err.Error(), route.DefaultName, "")), nil
	}
	if req.URL.RawQuery != "" {
		req.URL.RawQuery = rules.CleanQuery(req.URL.RawQuery)
	}
	d := p.table.Load().Route(req)
	name, side := d.Name(), d.Side.String()
	t := p.cfg.Timeouts
	if d.Side == route.New {
		t = d.Route.Timeouts().Merge(t)
		toNew(req, d.Route)
	}
	req.RequestURI = "" // set by the server; a client request must not carry it
	// The client's "Connection: close" is about its own hop; upstream
	// connections stay pooled (as in net/http/httputil.ReverseProxy).
	req.Close = false
	upType := upgradeType(req.Header)
	removeHopByHop(req.Header)
	if upType != "" {
		req.Header["Connection"] = []string{"Upgrade"}
		req.Header["Upgrade"] = []string{upType}
	}

	resp, err := p.tr.get(t, d.Side == route.New).RoundTrip(req)
	if err != nil {
		release()
		var den *denial
		if errors.As(err, &den) { // a resolved address the guard refused
			p.logDenied(den)
			return deniedResponse(req, den), nil
		}
		return p.upstreamError(req, name, side, err), nil
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		removeHopByHop(resp.Header)
	}
	// Backends must not be able to spoof which side served a request.
	for k := range resp.Header {
		if rules.IsFicusHeader(k) {
			delete(resp.Header, k)
		}
	}
	p.servedBy(resp.Header, name, side)
	p.m.countStatus(name, side, resp.StatusCode)
	if resp.StatusCode == http.StatusSwitchingProtocols || resp.Body == nil || resp.Body == http.NoBody {
		// An upgraded body is the raw connection and must stay an
		// io.ReadWriter for goproxy, so it is not wrapped (nor counted).
		release()
	} else {
		resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
	}
	return resp, nil
}

// releasingBody frees the concurrency slot once goproxy has relayed (and
// closed) the response body, so the limit covers streaming responses too.
type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}

// toNew points req at the route's new upstream: scheme, host and base path
// come from the route, the path is rewritten by its strip/add prefixes.
func toNew(req *http.Request, rt *route.Route) {
	target := rt.NewURL()
	in := req.URL
	b := &url.URL{Path: rt.RewritePath(in.Path)}
	if in.RawPath != "" {
		b.RawPath = rt.RewritePath(in.RawPath)
	}
	out := *in
	out.Scheme, out.Host, out.User = target.Scheme, target.Host, nil
	out.Path, out.RawPath = joinURLPath(target, b)
	req.URL = &out
	req.Host = "" // the Host header follows the new URL
}

// joinURLPath is net/http/httputil's (unexported) path join.
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
	aslash, bslash := strings.HasSuffix(a, "/"), strings.HasPrefix(b, "/")
	switch {
	case aslash && bslash:
		return a + b[1:]
	case !aslash && !bslash:
		return a + "/" + b
	}
	return a + b
}

// hopByHop are the RFC 9110 §7.6.1 connection-specific headers plus the
// de-facto Proxy-Connection and Keep-Alive.
var hopByHop = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

func removeHopByHop(h http.Header) {
	for _, v := range h["Connection"] {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				delete(h, http.CanonicalHeaderKey(f))
			}
		}
	}
	trailers := tokenIn(h["Te"], "trailers")
	for _, k := range hopByHop {
		delete(h, k)
	}
	if trailers {
		// "TE: trailers" tells a gRPC-style upstream the client understands
		// trailers; net/http/httputil keeps it for the same reason.
		h["Te"] = []string{"trailers"}
	}
}

func upgradeType(h http.Header) string {
	if !tokenIn(h["Connection"], "upgrade") {
		return ""
	}
	if v := h["Upgrade"]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func tokenIn(values []string, token string) bool {
	for _, v := range values {
		for _, f := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), token) {
				return true
			}
		}
	}
	return false
}

func (p *Proxy) servedBy(h http.Header, name, side string) {
	if p.cfg.ServedByHeader {
		h[servedByKey] = []string{side}
		h[routeKey] = []string{name}
	}
}

func (p *Proxy) upstreamError(req *http.Request, name, side string, err error) *http.Response {
	code, kind, msg := http.StatusBadGateway, kindUnreachable, "upstream unreachable"
	if isTimeout(err) {
		code, kind, msg = http.StatusGatewayTimeout, kindTimeout, "upstream timeout"
	}
	resp := jsonResponse(req, code, errorBody(msg, name, side))
	p.servedBy(resp.Header, name, side)
	if req.Context().Err() != nil {
		// The client went away; the upstream is not to blame.
		return resp
	}
	p.m.upstreamE.WithLabelValues(name, side, kind).Inc()
	p.m.countStatus(name, side, code)
	// Only the host is logged: paths and queries may carry tokens.
	p.log.Warn(msg, "route", name, "side", side, "host", req.URL.Host, "err", err)
	return resp
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

var (
	saturatedBody       = []byte(`{"error":"proxy saturated"}` + "\n")
	tunnelSaturatedBody = []byte(`{"error":"too many open tunnels"}` + "\n")
	tunnelFailedBody    = []byte(`{"error":"tunnel upstream unreachable"}` + "\n")
	notProxyBody        = []byte(`{"error":"not a proxy request: send absolute-form requests or CONNECT"}` + "\n")
)

func errorBody(msg, name, side string) []byte {
	b, _ := json.Marshal(struct {
		Error    string `json:"error"`
		Route    string `json:"route"`
		Upstream string `json:"upstream"`
	}{msg, name, side})
	return append(b, '\n')
}

func jsonResponse(req *http.Request, code int, body []byte) *http.Response {
	return &http.Response{
		Status:     fmt.Sprintf("%d %s", code, http.StatusText(code)),
		StatusCode: code,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header: http.Header{
			"Content-Type":   {"application/json"},
			"Cache-Control":  {"no-store"},
			"Content-Length": {strconv.Itoa(len(body))},
		},
		ContentLength: int64(len(body)),
		Body:          io.NopCloser(bytes.NewReader(body)),
		Request:       req,
	}
}

// connectError is goproxy's ConnectionErrHandler: it answers a CONNECT whose
// upstream could not be dialled, on the raw hijacked connection.
func (p *Proxy) connectError(w io.Writer, ctx *goproxy.ProxyCtx, err error) {
	code, body := http.StatusBadGateway, tunnelFailedBody
	var den *denial
	switch {
	case errors.As(err, &den):
		code, body = http.StatusForbidden, den.body()
		p.logDenied(den)
	case errors.Is(err, errTunnelsSaturated):
		code, body = http.StatusServiceUnavailable, tunnelSaturatedBody
		p.m.saturated.WithLabelValues("tunnel").Inc()
	default:
		p.m.connects.WithLabelValues("error").Inc()
		target := ""
		if ctx != nil && ctx.Req != nil {
			target = ctx.Req.URL.Host
		}
		p.log.Warn("CONNECT failed", "target", target, "err", err)
	}
	_, _ = fmt.Fprintf(w, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		code, http.StatusText(code), len(body), body)
}
