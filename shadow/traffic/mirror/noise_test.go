package mirror

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/shadow/traffic/diff"
	"github.com/ficus-migrate/ficus/shadow/traffic/noise"
)

// answer is a catalogue answer with a random request id and a timestamp,
// which differ between any two answers, legacy or not.
func answer(price int) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"meta":{"request_id":"%016x","generated_at":%q},"items":[{"id":1,"price":%d}]}`,
			rand.Uint64(), time.Now().Format(time.RFC3339Nano), price)
	}
}

// TestNoise: legacy answers differ from each other in request_id and
// timestamp; new also changes the price in 5 % of answers. After learning,
// price is reported as real, request_id and timestamp as noise — with a
// second legacy and, without one, by asking legacy twice.
func TestNoise(t *testing.T) {
	for _, tc := range []struct {
		name         string
		secondLegacy bool
		noiseSample  float64
	}{
		{"second legacy", true, 0},
		{"legacy twice", false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			legacy := newBackend(t, answer(10))
			second := newBackend(t, answer(10))
			var n atomic.Int64
			nw := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
				price := 10
				if n.Add(1)%20 == 0 { // 5 %
					price = 12
				}
				answer(price)(w, r)
			})
			rc := Route{Sample: 1, NoiseSample: tc.noiseSample, Noise: noise.Config{MinSamples: 20}}
			if tc.secondLegacy {
				rc.SecondLegacy = second.url(t)
			}
			rec := &memRecorder{}
			s := start(t, legacy.url(t), nw.url(t), 0, Config{Workers: 1, Recorder: rec}, rc)
			const total = 200
			for range total {
				s.do(t, http.MethodGet, "/catalogue", "", nil)
			}
			waitFor(t, "all comparisons", func() bool { return s.stats(t).Compared == total })

			if tc.secondLegacy && len(second.requests()) != total {
				t.Errorf("second legacy got %d requests, want %d", len(second.requests()), total)
			}
			if !tc.secondLegacy && len(legacy.requests()) != 2*total {
				t.Errorf("legacy got %d requests, want %d (asked twice)", len(legacy.requests()), 2*total)
			}
			fields := map[string]noise.FieldStat{}
			for _, f := range s.stats(t).Fields {
				fields[f.Path] = f
			}
			for path, wantNoise := range map[string]bool{
				"$.meta.request_id": true, "$.meta.generated_at": true, "$.items[*].price": false,
			} {
				f, ok := fields[path]
				if !ok {
					t.Errorf("no field statistics for %s (have %v)", path, fields)
					continue
				}
				if f.Noise != wantNoise {
					t.Errorf("%s: noise = %v, want %v (%+v)", path, f.Noise, wantNoise, f)
				}
			}
			// Records after the learning phase: price real, the rest noise.
			recs := rec.all()
			if len(recs) < 5 {
				t.Fatalf("%d records, want about %d price changes", len(recs), total/20)
			}
			last := recs[len(recs)-1]
			if got := paths(last.Diffs); !slices.Equal(got, []string{"$.items[0].price"}) {
				t.Errorf("last record's real diffs %v, want only the price", got)
			}
			if got := paths(last.Noise); !slices.Contains(got, "$.meta.request_id") || !slices.Contains(got, "$.meta.generated_at") {
				t.Errorf("last record's noise %v, want request_id and generated_at", got)
			}
			if st := s.stats(t); st.Mismatched < total/20 || st.MatchRate < 0.8 {
				t.Errorf("stats %+v: want about 5 %% mismatches once learned", st)
			}
		})
	}
}

func paths(ds []diff.Diff) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Path)
	}
	return out
}
