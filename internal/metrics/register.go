// Package metrics registers ficus's Prometheus collectors with one policy
// for a collector that is already registered.
//
// Several components of one process can register the same collector on the
// one registry /metrics gathers: two proxies across a restart within the
// process, two capture sources, two rollout controllers. The policy:
//
//   - A collector that holds its own values (a counter, gauge or histogram,
//     or a vector of them) is shared: when one with the same descriptors is
//     already registered, Reuse returns that one, so every component counts
//     into the series that Gather returns. Keeping the new, unregistered
//     collector instead would send its counts nowhere.
//   - A collector that reads its owner's state when gathered (GaugeFunc,
//     CounterFunc, a custom Collector) has one owner: registering a second
//     one is an error (Own), since sharing would report the first owner's
//     figures under the second's name.
//   - Any other failure (the same name with other labels or help, say) is an
//     error.
//
// A nil Registerer stands for a private registry: the collectors are
// usable and nobody gathers them.
package metrics

import (
	"errors"
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Registrar registers the collectors of one component and keeps the first
// error, so a constructor registers them all and checks once.
type Registrar struct {
	reg prometheus.Registerer
	err error
}

// NewRegistrar registers on reg; a nil reg means a private registry.
func NewRegistrar(reg prometheus.Registerer) *Registrar {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	return &Registrar{reg: reg}
}

// Reuse registers c, a collector holding its own values, and returns it;
// when an equal collector of the same type is already registered it
// returns that one instead. On any other failure it returns c and r.Err
// reports the failure.
func Reuse[T prometheus.Collector](r *Registrar, c T) T {
	err := r.reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(T); ok {
			return existing
		}
	}
	r.fail(c, err)
	return c
}

// Own registers c, a collector that reads its owner's state; an equal one
// already registered is an error (see the package comment).
func (r *Registrar) Own(c prometheus.Collector) {
	if err := r.reg.Register(c); err != nil {
		r.fail(c, err)
	}
}

// Err is the first registration failure, nil when there was none.
func (r *Registrar) Err() error { return r.err }

func (r *Registrar) fail(c prometheus.Collector, err error) {
	if r.err == nil {
		r.err = fmt.Errorf("register %s: %w", name(c), err)
	}
}

// name is the first metric name c describes, for error messages.
func name(c prometheus.Collector) string {
	ch := make(chan *prometheus.Desc, 1)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	n := "collector"
	for d := range ch {
		if n == "collector" {
			n = descName(d)
		}
	}
	return n
}

// descName digs the name out of Desc.String, the only way the client
// library shows it: `Desc{fqName: "ficus_x_total", help: ...}`.
func descName(d *prometheus.Desc) string {
	s := d.String()
	_, rest, ok := strings.Cut(s, `fqName: "`)
	if !ok {
		return s
	}
	n, _, _ := strings.Cut(rest, `"`)
	return n
}
