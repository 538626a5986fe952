package rollout

import (
	"time"

	"github.com/ficus-migrate/ficus/shadow/traffic/noise"
)

// Report is what one process publishes about one route every interval:
// cumulative counters since the process started (Instance, Started), so a
// lost message loses nothing and the judge needs only the latest per process.
type Report struct {
	Instance string    `json:"instance"`
	Started  time.Time `json:"started"`
	Route    string    `json:"route"`
	Legacy   Side      `json:"legacy"`
	New      Side      `json:"new"`
	// Compared and Mismatched are the shadow's comparisons of this route;
	// Mismatched excludes noise-only differences, as judged at the time
	// of each comparison.
	Compared   uint64 `json:"compared"`
	Mismatched uint64 `json:"mismatched"`
	// Shadow are the same comparisons by signature, paths hashed, with the
	// noise the process knows now: the window judges them again at every
	// evaluation with the newest knowledge. Nil where the route is not
	// shadowed, and from ficus versions before it (their Mismatched is
	// used as it is).
	Shadow *noise.Snapshot `json:"shadow,omitempty"`
}

// Side holds one side's request counters and latency histogram.
type Side struct {
	Requests  uint64 `json:"requests"`
	Status5xx uint64 `json:"status_5xx"`
	// Bounds are the histogram's upper bounds in seconds; Buckets the
	// cumulative count at or below each; Count includes the +Inf bucket.
	Bounds  []float64 `json:"bounds,omitempty"`
	Buckets []uint64  `json:"buckets,omitempty"`
	Count   uint64    `json:"count"`
}

// Figures are a route's sums over all processes since the current step
// (or the controller's take-over) began: what the gates judge.
type Figures struct {
	NewRequests     uint64  `json:"new_requests"`
	LegacyRequests  uint64  `json:"legacy_requests"`
	New5xx          uint64  `json:"new_5xx"`
	Legacy5xx       uint64  `json:"legacy_5xx"`
	NewErrorRate    float64 `json:"new_error_rate"`
	LegacyErrorRate float64 `json:"legacy_error_rate"`
	ErrorRateDelta  float64 `json:"error_rate_delta"`
	// P99s in seconds, estimated from the proxy's latency histograms.
	NewP99    float64 `json:"new_p99_seconds"`
	LegacyP99 float64 `json:"legacy_p99_seconds"`
	P99Ratio  float64 `json:"p99_ratio"`
	// Compared are the shadow comparisons in the window; Mismatched those
	// that differ in at least one path that is not noise by what is known
	// at judging time — comparisons made before a field was known to be
	// noise are judged again, as `ficus report` judges them.
	Compared   uint64 `json:"compared"`
	Mismatched uint64 `json:"mismatched"`
	// MismatchRate is Mismatched / Compared (0 without comparisons).
	MismatchRate float64 `json:"mismatch_rate"`
	// NoiseReady is set once some process's noise detector has its
	// minimum samples (NoiseMinSamples legacy pairs; LegacyPairs is the
	// most any has) or no noise is learnt. Until then nothing is known to
	// be noise: Mismatched and MismatchRate are 0 and the mismatch gate
	// has no data yet.
	NoiseReady      bool   `json:"noise_ready"`
	LegacyPairs     int64  `json:"legacy_pairs,omitempty"`
	NoiseMinSamples int    `json:"noise_min_samples,omitempty"`
	Processes       int    `json:"processes"`
	Window          string `json:"window"`
	// Gates are the rollout.gates results the decision was judged on.
	Gates []GateResult `json:"gates,omitempty"`
}

// window sums reports from many processes since start: each process's
// first report after start is its baseline, unless the process itself
// started after start (then its baseline is zero).
type window struct {
	start time.Time
	base  map[string]Report
	last  map[string]Report
}

func newWindow(start time.Time) *window {
	return &window{start: start, base: map[string]Report{}, last: map[string]Report{}}
}

func (w *window) add(r Report) {
	if _, ok := w.base[r.Instance]; !ok {
		b := r
		if r.Started.After(w.start) {
			b = Report{Instance: r.Instance, Started: r.Started, Route: r.Route}
		}
		w.base[r.Instance] = b
	}
	w.last[r.Instance] = r
}

// reset starts a new window now: what was counted so far is the baseline.
func (w *window) reset(now time.Time) {
	w.start = now
	w.base = make(map[string]Report, len(w.last))
	for k, v := range w.last {
		w.base[k] = v
	}
}

func (w *window) figures(now time.Time) Figures {
	var f Figures
	var legacyH, newH hist
	var parts []noise.Part
	for id, last := range w.last {
		base := w.base[id]
		f.NewRequests += sub(last.New.Requests, base.New.Requests)
		f.LegacyRequests += sub(last.Legacy.Requests, base.Legacy.Requests)
		f.New5xx += sub(last.New.Status5xx, base.New.Status5xx)
		f.Legacy5xx += sub(last.Legacy.Status5xx, base.Legacy.Status5xx)
		if last.Shadow != nil {
			var b noise.Counts
			if base.Shadow != nil {
				b = base.Shadow.Counts
			}
			parts = append(parts, noise.Part{Counts: last.Shadow.Since(b), Known: last.Shadow.Noise})
		} else {
			f.Compared += sub(last.Compared, base.Compared)
			f.Mismatched += sub(last.Mismatched, base.Mismatched)
		}
		newH.add(last.New, base.New)
		legacyH.add(last.Legacy, base.Legacy)
		f.Processes++
	}
	w.judgeShadow(&f, parts)
	f.NewErrorRate = ratio(f.New5xx, f.NewRequests)
	f.LegacyErrorRate = ratio(f.Legacy5xx, f.LegacyRequests)
	f.ErrorRateDelta = f.NewErrorRate - f.LegacyErrorRate
	f.NewP99, f.LegacyP99 = newH.quantile(0.99), legacyH.quantile(0.99)
	if f.LegacyP99 > 0 {
		f.P99Ratio = f.NewP99 / f.LegacyP99
	}
	f.Window = now.Sub(w.start).Round(time.Millisecond).String()
	return f
}

// judgeShadow adds the processes' comparisons by signature to f, judged
// with the noise known now, and sets the mismatch rate. Processes that
// publish no signatures (older versions) count as they judged.
func (w *window) judgeShadow(f *Figures, parts []noise.Part) {
	j := noise.Judge(parts)
	f.Compared += j.Compared
	f.NoiseReady = j.Ready || len(parts) == 0
	f.LegacyPairs, f.NoiseMinSamples = j.LegacyPairs, j.MinSamples
	if !f.NoiseReady {
		// What would be counted now is every difference, noise included:
		// the very figure that rolled back healthy services. The gate reads
		// nothing until noise can be told apart.
		f.Mismatched = 0
		return
	}
	f.Mismatched += j.Mismatched
	f.MismatchRate = ratio(f.Mismatched, f.Compared)
}

func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

func ratio(a, b uint64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// hist is a summed latency histogram.
type hist struct {
	bounds  []float64
	buckets []uint64
	count   uint64
}

func (h *hist) add(last, base Side) {
	if len(last.Bounds) != len(last.Buckets) {
		return
	}
	if h.bounds == nil {
		h.bounds = last.Bounds
		h.buckets = make([]uint64, len(last.Bounds))
	}
	if len(last.Bounds) != len(h.bounds) {
		return // another ficus version's buckets: not summable
	}
	for i := range last.Buckets {
		var b uint64
		if i < len(base.Buckets) {
			b = base.Buckets[i]
		}
		h.buckets[i] += sub(last.Buckets[i], b)
	}
	h.count += sub(last.Count, base.Count)
}

// quantile interpolates linearly inside the bucket holding rank q, as
// Prometheus's histogram_quantile does; a rank in the +Inf bucket gives
// the highest finite bound. 0 without samples.
func (h *hist) quantile(q float64) float64 {
	if h.count == 0 || len(h.bounds) == 0 {
		return 0
	}
	rank := q * float64(h.count)
	lower, prev := 0.0, uint64(0)
	for i, upper := range h.bounds {
		c := h.buckets[i]
		if float64(c) >= rank {
			if c == prev {
				return upper
			}
			return lower + (upper-lower)*(rank-float64(prev))/float64(c-prev)
		}
		lower, prev = upper, c
	}
	return h.bounds[len(h.bounds)-1]
}
