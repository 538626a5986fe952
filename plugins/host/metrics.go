package host

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ficus-migrate/ficus/internal/metrics"
)

// Metrics are the plugin metrics, labelled by plugin name.
type Metrics struct {
	up, failed                 *prometheus.GaugeVec
	starts, restarts, failures *prometheus.CounterVec
	duration                   *prometheus.HistogramVec
	// Row comparison batching (see Judge).
	rowBatch     *prometheus.HistogramVec
	rowQueued    *prometheus.GaugeVec
	rowQueueFull *prometheus.CounterVec
}

// NewMetrics registers the plugin metrics with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ficus_plugin_up",
			Help: "1 while the plugin process is running and connected."}, []string{"plugin"}),
		failed: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ficus_plugin_failed",
			Help: "1 once the plugin failed for good (its source or route is stopped)."}, []string{"plugin"}),
		starts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ficus_plugin_starts_total",
			Help: "Plugin processes started."}, []string{"plugin"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ficus_plugin_restarts_total",
			Help: "Plugin processes killed after a crash, a broken connection or a timeout."}, []string{"plugin"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ficus_plugin_call_failures_total",
			Help: "Failed plugin calls and starts (each is retried until the plugin fails for good)."}, []string{"plugin"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ficus_plugin_call_seconds",
			Help:    "Duration of one plugin call (one batch).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)}, []string{"plugin"}),
		rowBatch: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ficus_plugin_row_batch_pairs",
			Help:    "Row pairs per row comparison call (concurrent questions share a call).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10)}, []string{"plugin"}),
		rowQueued: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ficus_plugin_row_queue_pairs",
			Help: "Row pairs waiting for a row comparison call."}, []string{"plugin"}),
		rowQueueFull: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ficus_plugin_row_queue_full_total",
			Help: "Row comparison questions refused because the queue was full (the plugin is slower than the differences come)."},
			[]string{"plugin"}),
	}
	r := metrics.NewRegistrar(reg)
	m.up = metrics.Reuse(r, m.up)
	m.failed = metrics.Reuse(r, m.failed)
	m.starts = metrics.Reuse(r, m.starts)
	m.restarts = metrics.Reuse(r, m.restarts)
	m.failures = metrics.Reuse(r, m.failures)
	m.duration = metrics.Reuse(r, m.duration)
	m.rowBatch = metrics.Reuse(r, m.rowBatch)
	m.rowQueued = metrics.Reuse(r, m.rowQueued)
	m.rowQueueFull = metrics.Reuse(r, m.rowQueueFull)
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("register plugin metrics: %w", err)
	}
	return m, nil
}

type metricsFor struct {
	up, failed                 prometheus.Gauge
	starts, restarts, failures prometheus.Counter
	duration                   prometheus.Observer
	rowBatch                   prometheus.Observer
	rowQueued                  prometheus.Gauge
	rowQueueFull               prometheus.Counter
}

// forPlugin returns the children for one plugin; a nil Metrics gives
// unregistered ones.
func (m *Metrics) forPlugin(name string) metricsFor {
	if m == nil {
		m, _ = NewMetrics(prometheus.NewRegistry())
	}
	return metricsFor{
		up: m.up.WithLabelValues(name), failed: m.failed.WithLabelValues(name),
		starts: m.starts.WithLabelValues(name), restarts: m.restarts.WithLabelValues(name),
		failures: m.failures.WithLabelValues(name), duration: m.duration.WithLabelValues(name),
		rowBatch: m.rowBatch.WithLabelValues(name), rowQueued: m.rowQueued.WithLabelValues(name),
		rowQueueFull: m.rowQueueFull.WithLabelValues(name),
	}
}

// Restarts is the collector of ficus_plugin_restarts_total (for tests and
// reports).
func (m *Metrics) Restarts() prometheus.Collector { return m.restarts }
