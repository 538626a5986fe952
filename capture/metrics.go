package capture

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ficus-migrate/ficus/internal/metrics"
)

// Metrics are the capture metrics shared by sources and the sink. They are
// registered on the Registerer given to NewMetrics, never globally.
type Metrics struct {
	Events        *prometheus.CounterVec // source, table, op
	LastEventTime *prometheus.GaugeVec   // source
	SlotLagBytes  *prometheus.GaugeVec   // source
	SnapshotDone  *prometheus.GaugeVec   // source, table
	SnapshotTotal *prometheus.GaugeVec   // source, table
	// LagSeconds is how far behind the primary the last event read is, by its
	// header timestamp (sources whose log has no byte lag, e.g. MySQL).
	LagSeconds *prometheus.GaugeVec // source
	// Active is 1 while this process holds the source's lease and streams,
	// 0 while it stands by (see package capture/standby).
	Active *prometheus.GaugeVec // source
	// Failed is 1 while a source is stopped by an error that retrying
	// cannot fix (see Permanent), 0 while it runs.
	Failed *prometheus.GaugeVec // source
}

// NewMetrics registers the capture metrics on reg. Several sources may share a
// registry: a collector that is already registered is reused (see package
// internal/metrics). A nil reg gives unregistered (still usable) metrics.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ficus_capture_events_total", Help: "Row change events published, by source, table and op.",
		}, []string{"source", "table", "op"}),
		LastEventTime: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ficus_capture_last_event_timestamp_seconds", Help: "Source commit time of the last published event.",
		}, []string{"source"}),
		SlotLagBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ficus_capture_slot_lag_bytes", Help: "Bytes of WAL between the server's current position and the slot's confirmed position.",
		}, []string{"source"}),
		SnapshotDone: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ficus_capture_snapshot_rows_done", Help: "Rows read by the initial snapshot so far.",
		}, []string{"source", "table"}),
		SnapshotTotal: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ficus_capture_snapshot_rows_total", Help: "Estimated rows to read by the initial snapshot (pg_class.reltuples or equivalent).",
		}, []string{"source", "table"}),
		LagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ficus_capture_lag_seconds", Help: "Seconds between the source commit time of the last event read and now (0 when caught up).",
		}, []string{"source"}),
		Active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ficus_capture_active", Help: "1 while this process holds the source's lease and streams it, 0 while it stands by.",
		}, []string{"source"}),
		Failed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ficus_capture_failed", Help: "1 when the source stopped on an error that retrying cannot fix (the log and GET /api/capture say which); 0 while it runs.",
		}, []string{"source"}),
	}
	r := metrics.NewRegistrar(reg)
	m.Events = metrics.Reuse(r, m.Events)
	m.LastEventTime = metrics.Reuse(r, m.LastEventTime)
	m.SlotLagBytes = metrics.Reuse(r, m.SlotLagBytes)
	m.SnapshotDone = metrics.Reuse(r, m.SnapshotDone)
	m.SnapshotTotal = metrics.Reuse(r, m.SnapshotTotal)
	m.LagSeconds = metrics.Reuse(r, m.LagSeconds)
	m.Active = metrics.Reuse(r, m.Active)
	m.Failed = metrics.Reuse(r, m.Failed)
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("register capture metrics: %w", err)
	}
	return m, nil
}

// Run runs a source's Run loop (run) and keeps Failed up to date: 0 while
// it runs, 1 once it returns an error.
func (m *Metrics) Run(source string, run func() error) error {
	g := m.Failed.WithLabelValues(source)
	g.Set(0)
	err := run()
	if err != nil {
		g.Set(1)
	}
	return err
}
