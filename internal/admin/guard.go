package admin

import (
	"encoding/json"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ficus-migrate/ficus/internal/metrics"
)

// The checks every request passes before the token: a browser can be made to
// send requests to the admin listener from any site (a form, a fetch, a
// rebound DNS name), and the token alone does not stop them when none is
// configured, which is the default on loopback.

// Reasons a request is refused: the reason label of ficus_admin_refused_total.
const (
	refusedHost        = "host"         // Host is not a name ficus answers as
	refusedOrigin      = "origin"       // unsafe method from another origin
	refusedContentType = "content_type" // unsafe method without application/json
	refusedNoToken     = "no_token"     // unsafe method, no token, listener not loopback
	refusedToken       = "token"        // missing or wrong token
)

var refusedReasons = []string{refusedHost, refusedOrigin, refusedContentType, refusedNoToken, refusedToken}

// refusal is why a request is not served: status, metric reason and a
// message the user can act on.
type refusal struct {
	code   int
	reason string
	msg    string
}

func newRefusedCounter(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ficus_admin_refused_total",
		Help: "Admin requests refused before reaching a handler, by reason (host, origin, content_type, no_token, token).",
	}, []string{"reason"})
	for _, r := range refusedReasons {
		c.WithLabelValues(r) // present at 0, so a rate() has a series from the start
	}
	r := metrics.NewRegistrar(reg)
	c = metrics.Reuse(r, c)
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("register admin metrics: %w", err)
	}
	return c, nil
}

// probe reports whether r is a GET of a path kubelet and Prometheus call:
// they address the pod by IP, which the Host check then accepts.
func probe(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	switch r.URL.Path {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return false
}

// unsafe is every method but GET, HEAD and OPTIONS: a method the server
// does not know is treated as one that changes something.
func unsafe(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// check returns why r must be refused before the token is even looked at,
// or nil. The order puts the reason most useful to the user first: a
// cross-site form post is told about its origin, not its content type.
func (s *Server) check(r *http.Request) *refusal {
	isProbe := probe(r)
	// HTTP/1.0 without Host is no browser; a probe may be one.
	if !(isProbe && r.Host == "") && !s.hosts.accept(r.Host, isProbe) {
		return &refusal{http.StatusForbidden, refusedHost, fmt.Sprintf(
			"Host %q is not a name this admin listener answers as (DNS rebinding protection); "+
				"use its address, localhost or 127.0.0.1, or add the name to admin.allowed_hosts", r.Host)}
	}
	if !unsafe(r.Method) {
		return nil
	}
	if origin := r.Header.Values("Origin"); len(origin) > 0 && !sameOrigin(origin[0], r.Host) {
		return &refusal{http.StatusForbidden, refusedOrigin, fmt.Sprintf(
			"Origin %q is not this admin listener (http://%s): pages of other sites may not change anything here",
			origin[0], r.Host)}
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return &refusal{http.StatusUnsupportedMediaType, refusedContentType, fmt.Sprintf(
			"%s needs Content-Type: application/json, even without a body (got %q); "+
				"this is what keeps cross-site form posts out", r.Method, r.Header.Get("Content-Type"))}
	}
	if s.cfg.Token == "" && !s.loopback {
		return &refusal{http.StatusForbidden, refusedNoToken, fmt.Sprintf(
			"admin.token is not set and the admin listener (%s) is not loopback: changes are refused; "+
				"set admin.token, or listen on 127.0.0.1", s.Addr())}
	}
	return nil
}

// sameOrigin reports whether origin (scheme://host[:port]) is the origin of
// a page served from host, the request's Host header. The scheme may be
// https as well as http: a TLS-terminating proxy in front of the listener
// serves the page over https while ficus sees plain HTTP.
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return false
	}
	return strings.EqualFold(withPort(u.Host, u.Scheme), withPort(host, u.Scheme))
}

// withPort fills in the scheme's default port, so "http://h" and Host
// "h:80" compare equal.
func withPort(hostport, scheme string) string {
	if _, _, err := net.SplitHostPort(hostport); err == nil {
		return hostport
	}
	port := 80
	if scheme == "https" {
		port = 443
	}
	return net.JoinHostPort(strings.Trim(hostport, "[]"), strconv.Itoa(port))
}

// refuse answers a refused request with {"error": msg} and counts it.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, f *refusal) {
	s.refused.WithLabelValues(f.reason).Inc()
	s.log.Debug("admin request refused", "reason", f.reason, "method", r.Method, "path", r.URL.Path,
		"host", r.Host, "origin", r.Header.Get("Origin"), "remote", r.RemoteAddr)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if f.reason == refusedToken {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ficus"`)
	}
	w.WriteHeader(f.code)
	_ = json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
	}{f.msg})
}
