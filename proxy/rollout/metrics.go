package rollout

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	metricsreg "github.com/ficus-migrate/ficus/internal/metrics"
)

type metrics struct {
	decisions *prometheus.CounterVec
	leaseHeld *prometheus.GaugeVec
}

// newMetrics registers the rollout metrics on reg (nil: a private
// registry); controllers sharing a registry share the collectors.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ficus_rollout_decisions_total",
			Help: "Rollout decisions this process's controller wrote, by route and action (start, promote, complete, rollback, pause).",
		}, []string{"route", "action"}),
		leaseHeld: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ficus_rollout_lease_held",
			Help: "1 while this process holds the route's controller lease, else 0.",
		}, []string{"route"}),
	}
	r := metricsreg.NewRegistrar(reg)
	m.decisions = metricsreg.Reuse(r, m.decisions)
	m.leaseHeld = metricsreg.Reuse(r, m.leaseHeld)
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("register rollout metrics: %w", err)
	}
	return m, nil
}
