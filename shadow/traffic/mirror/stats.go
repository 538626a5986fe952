package mirror

import (
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	metricsreg "github.com/ficus-migrate/ficus/internal/metrics"
	"github.com/ficus-migrate/ficus/shadow/traffic/noise"
	"github.com/ficus-migrate/ficus/shadow/traffic/record"
)

type metrics struct {
	mirrored, compared, matched, mismatched, dropped, errors *prometheus.CounterVec
	discarded                                                *prometheus.CounterVec
	latency                                                  *prometheus.HistogramVec
	held                                                     prometheus.GaugeFunc
}

type routeMetrics struct {
	mirrored, compared, matched, mismatched, errors prometheus.Counter
	dropped                                         map[string]prometheus.Counter // by reason
	legacyLatency, newLatency                       prometheus.Observer
}

// newMetrics registers the mirror's collectors; held reports the bytes the
// queued jobs hold, so that gauge has one owner: a second mirror on the
// same registry is an error.
func newMetrics(reg prometheus.Registerer, held func() float64) (*metrics, error) {
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ficus_shadow_" + name + "_total", Help: help}, []string{"route"})
	}
	m := &metrics{
		mirrored:   counter("mirrored", "Requests queued for mirroring."),
		compared:   counter("compared", "Mirrored requests whose two answers were compared."),
		matched:    counter("matched", "Compared requests without a real difference (noise-only differences count as matched)."),
		mismatched: counter("mismatched", "Compared requests with at least one real difference."),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ficus_shadow_dropped_total",
			Help: "Requests not mirrored or not compared for want of room: reason queue_full (shadow.queue jobs waiting), " +
				"bytes (shadow.queue_bytes held), plugin_full (the comparator plugin's queue was full)."},
			[]string{"route", "reason"}),
		discarded: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ficus_shadow_upstream_conns_discarded_total",
			Help: "Keep-alive connections to a shadow side closed instead of reused: reason unsolicited (the side sent bytes " +
				"nobody asked for), closed (the side had closed it), error (it could not be checked), header_too_large."},
			[]string{"reason"}),
		held: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ficus_shadow_queue_bytes",
			Help: "Bytes held by mirrored requests not yet compared, bounded by shadow.queue_bytes."}, held),
		errors: counter("errors", "Mirrored requests that failed: shadow upstream unreachable, timed out, or request body not mirrorable."),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ficus_shadow_latency_seconds",
			Help:    "Latency of compared exchanges per side, until the whole answer body was read.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"route", "side"}),
	}
	r := metricsreg.NewRegistrar(reg)
	m.mirrored = metricsreg.Reuse(r, m.mirrored)
	m.compared = metricsreg.Reuse(r, m.compared)
	m.matched = metricsreg.Reuse(r, m.matched)
	m.mismatched = metricsreg.Reuse(r, m.mismatched)
	m.dropped = metricsreg.Reuse(r, m.dropped)
	m.errors = metricsreg.Reuse(r, m.errors)
	m.latency = metricsreg.Reuse(r, m.latency)
	m.discarded = metricsreg.Reuse(r, m.discarded)
	r.Own(m.held)
	if err := r.Err(); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *metrics) route(name string) routeMetrics {
	return routeMetrics{
		mirrored: m.mirrored.WithLabelValues(name), compared: m.compared.WithLabelValues(name),
		matched: m.matched.WithLabelValues(name), mismatched: m.mismatched.WithLabelValues(name),
		errors: m.errors.WithLabelValues(name),
		dropped: map[string]prometheus.Counter{
			dropQueueFull:  m.dropped.WithLabelValues(name, dropQueueFull),
			dropBytes:      m.dropped.WithLabelValues(name, dropBytes),
			dropPluginFull: m.dropped.WithLabelValues(name, dropPluginFull),
		},
		legacyLatency: m.latency.WithLabelValues(name, sideLegacy),
		newLatency:    m.latency.WithLabelValues(name, sideNew),
	}
}

// routeStats are the figures of the admin API.
type routeStats struct {
	mirrored, compared, matched, mismatched, dropped, errors atomic.Uint64

	mu      sync.Mutex
	samples [2]reservoir // legacy, new
}

// reservoirSize bounds the latency samples kept per side: the most recent
// ones, enough for a stable p99.
const reservoirSize = 1024

type reservoir struct {
	vals []float64
	next int
}

func (r *reservoir) add(v float64) {
	if len(r.vals) < reservoirSize {
		r.vals = append(r.vals, v)
		return
	}
	r.vals[r.next] = v
	r.next = (r.next + 1) % reservoirSize
}

func (r *reservoir) quantiles() (p50, p99 float64) {
	if len(r.vals) == 0 {
		return 0, 0
	}
	s := slices.Clone(r.vals)
	slices.Sort(s)
	at := func(q float64) float64 { return s[int(math.Ceil(q*float64(len(s))))-1] }
	return at(0.50), at(0.99)
}

func newRouteStats() *routeStats { return &routeStats{} }

func (rs *routeState) observeLatency(side string, d time.Duration) {
	i, obs := 0, rs.metrics.legacyLatency
	if side == sideNew {
		i, obs = 1, rs.metrics.newLatency
	}
	obs.Observe(d.Seconds())
	rs.stats.mu.Lock()
	rs.stats.samples[i].add(float64(d.Microseconds()) / 1000)
	rs.stats.mu.Unlock()
}

// count records one comparison and returns the running totals.
func (rs *routeState) count(match bool) record.Counts {
	rs.metrics.compared.Inc()
	c := record.Counts{Compared: rs.stats.compared.Add(1)}
	if match {
		rs.metrics.matched.Inc()
		c.Matched = rs.stats.matched.Add(1)
		c.Mismatched = rs.stats.mismatched.Load()
	} else {
		rs.metrics.mismatched.Inc()
		c.Mismatched = rs.stats.mismatched.Add(1)
		c.Matched = rs.stats.matched.Load()
	}
	return c
}

// Stats are the figures of one shadowed route (GET /api/shadow/{route}).
// Matched and Mismatched judge every comparison so far with the noise known
// now, as `ficus report` and the rollout's mismatch gate do: a comparison
// counted as a mismatch before its differing fields were known to be noise
// is matched once they are. (ficus_shadow_matched_total and
// ficus_shadow_mismatched_total keep the judgement made at the time.)
type Stats struct {
	Route      string  `json:"route"`
	Mirrored   uint64  `json:"mirrored"`
	Compared   uint64  `json:"compared"`
	Matched    uint64  `json:"matched"`
	Mismatched uint64  `json:"mismatched"`
	Dropped    uint64  `json:"dropped"`
	Errors     uint64  `json:"errors"`
	MatchRate  float64 `json:"match_rate"` // matched/compared; 0 before the first comparison
	// NoiseReady is set once the noise detector has its minimum samples
	// (NoiseMinSamples legacy pairs, LegacyPairs so far) or learns no noise;
	// until then no path is noise and every difference is a mismatch.
	NoiseReady      bool  `json:"noise_ready"`
	LegacyPairs     int64 `json:"legacy_pairs"`
	NoiseMinSamples int   `json:"noise_min_samples"`
	// Fields are per generalized path: the legacy-vs-new difference rate,
	// the legacy-vs-legacy rate and whether the path is treated as noise.
	Fields  []noise.FieldStat `json:"fields"`
	Latency struct {
		Legacy Quantiles `json:"legacy"`
		New    Quantiles `json:"new"`
	} `json:"latency_ms"`
}

// Quantiles of recent latencies in milliseconds.
type Quantiles struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
}

// Stats returns the figures of a shadowed route.
func (m *Mirror) Stats(route string) (Stats, bool) {
	rs := m.routes[route]
	if rs == nil {
		return Stats{}, false
	}
	st := rs.stats
	snap := rs.snapshot()
	j := noise.Judge([]noise.Part{{Counts: snap.Counts, Known: snap.Noise}})
	s := Stats{
		Route: route, Mirrored: st.mirrored.Load(), Compared: j.Compared, Matched: j.Compared - j.Mismatched,
		Mismatched: j.Mismatched, Dropped: st.dropped.Load(), Errors: st.errors.Load(),
		NoiseReady: snap.Noise.Ready, LegacyPairs: snap.Noise.LegacyPairs, NoiseMinSamples: snap.Noise.MinSamples,
		Fields: rs.det.Fields(),
	}
	if s.Fields == nil {
		s.Fields = []noise.FieldStat{}
	}
	if s.Compared > 0 {
		s.MatchRate = float64(s.Matched) / float64(s.Compared)
	}
	st.mu.Lock()
	s.Latency.Legacy.P50, s.Latency.Legacy.P99 = st.samples[0].quantiles()
	s.Latency.New.P50, s.Latency.New.P99 = st.samples[1].quantiles()
	st.mu.Unlock()
	return s, true
}

// Handler serves GET /api/shadow/{route} (mount it with that pattern).
func (m *Mirror) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("route")
		w.Header().Set("Content-Type", "application/json")
		s, ok := m.Stats(name)
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "no shadowed route with this name", "route": name})
			return
		}
		_ = json.NewEncoder(w).Encode(s)
	})
}
