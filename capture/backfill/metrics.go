package backfill

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ficus-migrate/ficus/internal/metrics"
)

type metricSet struct {
	rows   *prometheus.CounterVec // source, table
	chunks *prometheus.CounterVec // source, table
}

func newMetrics(reg prometheus.Registerer) (*metricSet, error) {
	m := &metricSet{
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ficus_capture_backfill_rows_total",
			Help: "Rows published by backfills as op r events, by source and table.",
		}, []string{"source", "table"}),
		chunks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ficus_capture_backfill_chunks_total",
			Help: "Backfill chunks finished (read, windowed and published), by source and table.",
		}, []string{"source", "table"}),
	}
	r := metrics.NewRegistrar(reg)
	m.rows = metrics.Reuse(r, m.rows)
	m.chunks = metrics.Reuse(r, m.chunks)
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("register backfill metrics: %w", err)
	}
	return m, nil
}
