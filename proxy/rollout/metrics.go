package rollout

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	decisions *prometheus.CounterVec
	leaseHeld *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
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
	for _, c := range []prometheus.Collector{m.decisions, m.leaseHeld} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				continue
			}
			return nil, fmt.Errorf("register rollout metrics: %w", err)
		}
	}
	return m, nil
}
