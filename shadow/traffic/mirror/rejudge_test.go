package mirror

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ficus-migrate/ficus/shadow/traffic/noise"
	"github.com/ficus-migrate/ficus/shadow/traffic/record"
)

// tallyRecorder also keeps the tallies the mirror hands over.
type tallyRecorder struct {
	memRecorder
	mu      sync.Mutex
	tallies []record.Tally
}

func (r *tallyRecorder) Tally(t record.Tally) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tallies = append(r.tallies, t)
}

func (r *tallyRecorder) last() (record.Tally, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.tallies) == 0 {
		return record.Tally{}, false
	}
	return r.tallies[len(r.tallies)-1], true
}

// The case in one process: new differs from legacy only in a
// random request_id and a timestamp. The comparisons made before the
// detector had its legacy pairs were counted as mismatches then (the
// metric keeps that); GET /api/shadow/{route} judges them again with what
// is known now, and so do the tallies handed to the recorder.
func TestStatsJudgeAgainWithTheNoiseKnownNow(t *testing.T) {
	legacy := newBackend(t, answer(10))
	var n atomic.Int64
	priced := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		price := 10
		if r.URL.Path == "/priced" && n.Add(1)%50 == 0 { // 2 %
			price = 12
		}
		answer(price)(w, r)
	})
	reg := prometheus.NewRegistry()
	rec := &tallyRecorder{}
	// A quarter of the comparisons ask legacy twice: the first ~80 know no noise.
	rc := Route{Sample: 1, NoiseSample: 0.25, Noise: noise.Config{MinSamples: 20}}
	s := start(t, legacy.url(t), priced.url(t), 0, Config{Workers: 1, Recorder: rec, Registerer: reg, TallyEvery: 20 * time.Millisecond}, rc)
	const total = 400
	for i := range total {
		path := "/noisy"
		if i%2 == 1 {
			path = "/priced"
		}
		s.do(t, http.MethodGet, path, "", nil)
	}
	waitFor(t, "all comparisons", func() bool { return s.stats(t).Compared == total })

	st := s.stats(t)
	atTheTime := testutil.ToFloat64(s.mirror.metrics.mismatched.WithLabelValues("r"))
	wantPriced := uint64(n.Load() / 50)
	if !st.NoiseReady || st.LegacyPairs < 20 || st.NoiseMinSamples != 20 {
		t.Fatalf("stats %+v: want the detector ready", st)
	}
	if st.Mismatched != wantPriced || st.Matched != total-wantPriced {
		t.Errorf("stats: %d mismatched, %d matched; want only the %d price changes to count", st.Mismatched, st.Matched, wantPriced)
	}
	if atTheTime <= float64(wantPriced) {
		t.Errorf("ficus_shadow_mismatched_total = %v: want the early noise counted at the time (above %d)", atTheTime, wantPriced)
	}
	t.Logf("%d compared: %v mismatched when judged at the time, %d judged now", total, atTheTime, st.Mismatched)

	// The last tally judges the same: its paths are hashed.
	waitFor(t, "a tally of every comparison", func() bool {
		tl, ok := rec.last()
		return ok && tl.Compared == total && tl.Noise.Ready
	})
	tl, _ := rec.last()
	j := noise.Judge([]noise.Part{{Counts: tl.Counts, Known: tl.Noise}})
	if j.Compared != st.Compared || j.Mismatched != st.Mismatched {
		t.Errorf("tally judged: %d of %d, API: %d of %d", j.Mismatched, j.Compared, st.Mismatched, st.Compared)
	}
	for _, p := range tl.Noise.Paths {
		if p == "$.meta.request_id" || len(p) < 10 {
			t.Errorf("tally noise path %q not hashed", p)
		}
	}
	if tl.Route != "r" || tl.Instance == "" || tl.Started.IsZero() {
		t.Errorf("tally %+v lacks its route or process", tl)
	}
}
