package capture

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
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
}

// NewMetrics registers the capture metrics on reg. Several sources may share a
// registry: a collector that is already registered is reused. A nil reg gives
// unregistered (still usable) metrics.
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
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.Events = register(reg, m.Events, &err)
	m.LastEventTime = register(reg, m.LastEventTime, &err)
	m.SlotLagBytes = register(reg, m.SlotLagBytes, &err)
	m.SnapshotDone = register(reg, m.SnapshotDone, &err)
	m.SnapshotTotal = register(reg, m.SnapshotTotal, &err)
	m.LagSeconds = register(reg, m.LagSeconds, &err)
	if err != nil {
		return nil, err
	}
	return m, nil
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C, errp *error) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		if *errp == nil {
			*errp = fmt.Errorf("register capture metrics: %w", err)
		}
	}
	return c
}
