package rollout

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Two controllers on one registry (a restart within the process) must count
// into the series /metrics shows: the second must not keep collectors that
// failed to register.
func TestControllersOnOneRegistryShareTheSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	for range 2 {
		c, err := NewController(ControllerConfig{Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		c.met.decisions.WithLabelValues("orders", "promote").Inc()
		c.met.leaseHeld.WithLabelValues("orders").Set(1)
	}
	const want = `
# HELP ficus_rollout_decisions_total Rollout decisions this process's controller wrote, by route and action (start, promote, complete, rollback, pause).
# TYPE ficus_rollout_decisions_total counter
ficus_rollout_decisions_total{action="promote",route="orders"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "ficus_rollout_decisions_total"); err != nil {
		t.Error(err)
	}
}
