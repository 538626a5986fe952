package proxy

import (
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	metricsreg "github.com/ficus-migrate/ficus/internal/metrics"
)

// codeClasses are the code_class label values, indexed by status/100 - 1.
var codeClasses = [5]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

type metrics struct {
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	upstreamE    *prometheus.CounterVec
	clientErrors *prometheus.CounterVec
	discarded    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ficus_proxy_requests_total",
			Help: "Proxied requests by route, upstream side and response status class.",
		}, []string{"route", "side", "code_class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ficus_proxy_request_duration_seconds",
			Help:    "Time from receiving a request until its response was fully relayed.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "side"}),
		upstreamE: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ficus_proxy_upstream_errors_total",
			Help: "Requests that failed because the upstream was unreachable or timed out.",
		}, []string{"route", "side", "kind"}),
		clientErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ficus_proxy_client_errors_total",
			Help: "Requests refused because of what the client sent (bad framing, body timeout, body too large, bad path); never counted against a side.",
		}, []string{"route", "reason"}),
		discarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ficus_proxy_upstream_conns_discarded_total",
			Help: "Idle upstream keep-alive connections closed instead of reused: unsolicited bytes, closed by the backend, or uncheckable.",
		}, []string{"reason"}),
	}
	// A second proxy on the same registry (e.g. a restart within one
	// process) shares the collectors.
	r := metricsreg.NewRegistrar(reg)
	m.requests = metricsreg.Reuse(r, m.requests)
	m.duration = metricsreg.Reuse(r, m.duration)
	m.upstreamE = metricsreg.Reuse(r, m.upstreamE)
	m.clientErrors = metricsreg.Reuse(r, m.clientErrors)
	m.discarded = metricsreg.Reuse(r, m.discarded)
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("register proxy metrics: %w", err)
	}
	return m, nil
}

// countDiscard counts an upstream connection closed instead of reused.
func (m *metrics) countDiscard(reason string) { m.discarded.WithLabelValues(reason).Inc() }

// sideStats are the admin API's counters for one side of one route. They
// live in a map keyed by route name so they survive table swaps.
type sideStats struct {
	requests    atomic.Uint64
	classes     [5]atomic.Uint64
	unreachable atomic.Uint64
	timeout     atomic.Uint64
}

type routeStats struct {
	sides        [2]sideStats
	clientErrors atomic.Uint64
}

// sideMetrics are label children resolved once per table compile, so the
// hot path never does a label lookup.
type sideMetrics struct {
	stats       *sideStats
	classes     [5]prometheus.Counter
	duration    prometheus.Observer
	unreachable prometheus.Counter
	timeout     prometheus.Counter
}

func (m *metrics) resolve(routeName, side string, st *sideStats) sideMetrics {
	sm := sideMetrics{
		stats:       st,
		duration:    m.duration.WithLabelValues(routeName, side),
		unreachable: m.upstreamE.WithLabelValues(routeName, side, "unreachable"),
		timeout:     m.upstreamE.WithLabelValues(routeName, side, "timeout"),
	}
	for i, c := range codeClasses {
		sm.classes[i] = m.requests.WithLabelValues(routeName, side, c)
	}
	return sm
}

func (sm *sideMetrics) countStatus(code int) {
	i := code/100 - 1
	if i < 0 || i > 4 {
		i = 4 // nonsense status from a backend: count as a server error
	}
	sm.stats.requests.Add(1)
	sm.stats.classes[i].Add(1)
	sm.classes[i].Inc()
}
