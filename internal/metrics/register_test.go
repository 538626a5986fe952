package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ficus_test_total", Help: "Test."}, []string{"route"})
}

// Two components registering the same collector must count into the one
// series Gather returns.
func TestReuseSharesTheRegisteredCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	var sets []*prometheus.CounterVec
	for range 2 {
		r := NewRegistrar(reg)
		sets = append(sets, Reuse(r, newCounter()))
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if sets[0] != sets[1] {
		t.Error("the second registration did not get the first collector back")
	}
	sets[0].WithLabelValues("a").Inc()
	sets[1].WithLabelValues("a").Inc()
	const want = `
# HELP ficus_test_total Test.
# TYPE ficus_test_total counter
ficus_test_total{route="a"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "ficus_test_total"); err != nil {
		t.Error(err)
	}
}

func TestReuseWithoutRegistererGivesUsableCollectors(t *testing.T) {
	r := NewRegistrar(nil)
	a, b := Reuse(r, newCounter()), Reuse(r, newCounter())
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	a.WithLabelValues("x").Inc()
	b.WithLabelValues("x").Inc()
	if got := testutil.ToFloat64(a.WithLabelValues("x")); got != 2 {
		t.Errorf("count = %v, want 2 (one private registry per registrar)", got)
	}
}

func TestReuseRefusesAConflict(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := NewRegistrar(reg)
	Reuse(r, newCounter())
	other := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ficus_test_total", Help: "Test."}, []string{"side"})
	if got := Reuse(r, other); got != other {
		t.Error("a failed registration must return the collector given")
	}
	err := r.Err()
	if err == nil || !strings.Contains(err.Error(), "register ficus_test_total: ") {
		t.Errorf("err = %v, want one naming ficus_test_total", err)
	}
	// The first error is kept.
	Reuse(r, prometheus.NewGauge(prometheus.GaugeOpts{Name: "ficus_test_total", Help: "Other."}))
	if r.Err() != err {
		t.Errorf("err = %v, want the first one kept", r.Err())
	}
}

func TestReuseRefusesAnotherTypeWithTheSameDescriptors(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := NewRegistrar(reg)
	opts := prometheus.GaugeOpts{Name: "ficus_test_bytes", Help: "Test."}
	r.Own(prometheus.NewGaugeFunc(opts, func() float64 { return 1 }))
	Reuse(r, prometheus.NewGauge(opts))
	if r.Err() == nil {
		t.Error("a Gauge reused a GaugeFunc")
	}
}

func TestOwnRefusesASecondOwner(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.GaugeOpts{Name: "ficus_test_bytes", Help: "Test."}
	first := NewRegistrar(reg)
	first.Own(prometheus.NewGaugeFunc(opts, func() float64 { return 1 }))
	if err := first.Err(); err != nil {
		t.Fatal(err)
	}
	second := NewRegistrar(reg)
	second.Own(prometheus.NewGaugeFunc(opts, func() float64 { return 2 }))
	if err := second.Err(); err == nil || !strings.Contains(err.Error(), "ficus_test_bytes") {
		t.Errorf("err = %v, want a duplicate naming ficus_test_bytes", err)
	}
}
