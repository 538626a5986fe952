package forward

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	metricsreg "github.com/ficus-migrate/ficus/internal/metrics"
)

// codeClasses are the code_class label values, indexed by status/100 - 1.
var codeClasses = [5]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// Upstream error kinds (the kind label).
const (
	kindUnreachable = "unreachable"
	kindTimeout     = "timeout"
)

type metrics struct {
	requests  *prometheus.CounterVec
	upstreamE *prometheus.CounterVec
	saturated *prometheus.CounterVec
	connects  *prometheus.CounterVec
	certsMade prometheus.Counter
	denied    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ficus_proxy_forward_requests_total",
			Help: "Forward-proxied requests by route, upstream side and response status class.",
		}, []string{"route", "side", "code_class"}),
		upstreamE: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ficus_proxy_forward_upstream_errors_total",
			Help: "Forward-proxied requests that failed because the upstream was unreachable or timed out.",
		}, []string{"route", "side", "kind"}),
		saturated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ficus_proxy_forward_saturated_total",
			Help: "Requests (what=request) or CONNECT tunnels (what=tunnel) refused with 503 because the limit was reached.",
		}, []string{"what"}),
		connects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ficus_proxy_forward_connects_total",
			Help: "CONNECT requests by action: tunnel (passed through untouched) or mitm (intercepted).",
		}, []string{"action"}),
		certsMade: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ficus_proxy_forward_mitm_certs_generated_total",
			Help: "Leaf certificates minted for intercepted hosts (cache misses).",
		}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ficus_proxy_forward_denied_total",
			Help: "Requests and CONNECTs refused with 403 because of their destination, by reason: not_allowed, " +
				"bad_target, self, metadata, unspecified, loopback, link_local.",
		}, []string{"reason"}),
	}
	// A second proxy on the same registry (a restart within one process)
	// shares the collectors.
	r := metricsreg.NewRegistrar(reg)
	m.requests = metricsreg.Reuse(r, m.requests)
	m.upstreamE = metricsreg.Reuse(r, m.upstreamE)
	m.saturated = metricsreg.Reuse(r, m.saturated)
	m.connects = metricsreg.Reuse(r, m.connects)
	m.certsMade = metricsreg.Reuse(r, m.certsMade)
	m.denied = metricsreg.Reuse(r, m.denied)
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("register forward proxy metrics: %w", err)
	}
	return m, nil
}

func (m *metrics) countStatus(routeName, side string, code int) {
	i := code/100 - 1
	if i < 0 || i > 4 {
		i = 4 // nonsense status from a backend: count as a server error
	}
	m.requests.WithLabelValues(routeName, side, codeClasses[i]).Inc()
}
