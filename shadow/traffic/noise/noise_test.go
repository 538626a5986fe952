package noise

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/ficus-migrate/ficus/shadow/traffic/diff"
)

func result(paths ...string) diff.Result {
	r := diff.Result{}
	for _, p := range paths {
		r.Diffs = append(r.Diffs, diff.Diff{Path: p, Kind: diff.KindValue})
	}
	return r
}

func paths(ds []diff.Diff) map[string]bool {
	m := map[string]bool{}
	for _, d := range ds {
		m[diff.Generalize(d.Path)] = true
	}
	return m
}

// TestDiffyScenario: request_id and generated_at differ between any two
// legacy answers; a price differs only between legacy and new, in 5 % of
// answers. The first two are noise, the price is real.
func TestDiffyScenario(t *testing.T) {
	d := New(Config{})
	rng := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		d.ObserveLegacyPair(result("$.generated_at", "$.meta.request_id"))
	}
	var priceSeen int
	for i := range 500 {
		ps := []string{"$.generated_at", "$.meta.request_id"}
		if rng.IntN(100) < 5 {
			ps = append(ps, fmt.Sprintf("$.items[%d].price", i%7))
			priceSeen++
		}
		d.ObserveCandidate(result(ps...))
	}
	if priceSeen == 0 {
		t.Fatal("scenario produced no price change")
	}
	real, noise := d.Split(result("$.generated_at", "$.items[4].price", "$.meta.request_id"))
	if got := paths(real); len(got) != 1 || !got["$.items[*].price"] {
		t.Errorf("real = %v, want only the price", got)
	}
	if got := paths(noise); len(got) != 2 || !got["$.generated_at"] || !got["$.meta.request_id"] {
		t.Errorf("noise = %v, want request_id and generated_at", got)
	}
	fields := map[string]FieldStat{}
	for _, f := range d.Fields() {
		fields[f.Path] = f
	}
	price := fields["$.items[*].price"]
	if price.Noise || price.LegacyRate != 0 || price.CandidateRate <= 0.01 || price.CandidateRate > 0.1 {
		t.Errorf("price stat %+v", price)
	}
	if rid := fields["$.meta.request_id"]; !rid.Noise || rid.LegacyRate != 1 || rid.CandidateRate != 1 {
		t.Errorf("request_id stat %+v", rid)
	}
}

func TestClassification(t *testing.T) {
	tests := []struct {
		name           string
		cfg            Config
		legacyPairs    int
		legacyDiffs    int // of legacyPairs, how many differ at $.x
		candidates     int
		candidateDiffs int
		wantNoise      bool
	}{
		{"below min samples nothing is noise", Config{}, 19, 19, 100, 100, false},
		{"at min samples", Config{}, 20, 20, 100, 100, true},
		{"custom min samples", Config{MinSamples: 50}, 40, 40, 100, 100, false},
		{"never differs in legacy: real", Config{}, 100, 0, 100, 1, false},
		{"within relative threshold", Config{}, 100, 10, 100, 20, true},
		{"beyond relative threshold", Config{}, 100, 10, 100, 21, false},
		{"beyond relative but not absolute", Config{AbsoluteThreshold: 0.05}, 1000, 10, 1000, 50, true},
		{"beyond both", Config{AbsoluteThreshold: 0.05}, 1000, 10, 1000, 61, false},
		{"custom relative", Config{RelativeThreshold: 5}, 100, 10, 100, 40, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := New(tt.cfg)
			for i := range tt.legacyPairs {
				if i < tt.legacyDiffs {
					d.ObserveLegacyPair(result("$.x"))
				} else {
					d.ObserveLegacyPair(result())
				}
			}
			for i := range tt.candidates {
				if i < tt.candidateDiffs {
					d.ObserveCandidate(result("$.x", "$.y"))
				} else {
					d.ObserveCandidate(result())
				}
			}
			real, noise := d.Split(result("$.x", "$.y"))
			if got := paths(noise)["$.x"]; got != tt.wantNoise {
				t.Errorf("$.x noise = %v, want %v", got, tt.wantNoise)
			}
			if !paths(real)["$.y"] || paths(noise)["$.y"] {
				t.Errorf("$.y (never in legacy pairs) must be real: real=%v noise=%v", real, noise)
			}
			if len(real)+len(noise) != 2 {
				t.Errorf("split lost diffs: %v %v", real, noise)
			}
			if got := d.IsNoise("$.x"); got != tt.wantNoise {
				t.Errorf("IsNoise = %v", got)
			}
		})
	}
}

func TestTruncationMarkerIsReal(t *testing.T) {
	d := New(Config{MinSamples: 1})
	r := diff.Result{Diffs: []diff.Diff{{Path: "$", Kind: diff.KindTruncated}}}
	d.ObserveLegacyPair(r)
	d.ObserveCandidate(r)
	real, noise := d.Split(r)
	if len(real) != 1 || len(noise) != 0 {
		t.Fatalf("real=%v noise=%v", real, noise)
	}
	if s := d.Stats(); s.Paths != 0 {
		t.Fatalf("truncation marker tracked as a path: %+v", s)
	}
}

func TestBoundedMemory(t *testing.T) {
	d := New(Config{MaxPaths: 100, MinSamples: 1})
	for i := range 1000 {
		d.ObserveLegacyPair(result(fmt.Sprintf("$.k%d", i)))
		d.ObserveCandidate(result(fmt.Sprintf("$.c%d", i)))
	}
	long := "$." + string(make([]byte, MaxPathBytes))
	d.ObserveCandidate(result(long))
	s := d.Stats()
	if s.Paths != 100 || len(d.Fields()) != 100 {
		t.Fatalf("tracked %d paths (%d fields), want the cap 100", s.Paths, len(d.Fields()))
	}
	if want := int64(2000 - 100 + 1); s.Overflow != want {
		t.Fatalf("overflow = %d, want %d", s.Overflow, want)
	}
	// Known paths keep counting after the cap is reached.
	d.ObserveLegacyPair(result("$.k0"))
	for _, f := range d.Fields() {
		if f.Path == "$.k0" && f.LegacyDiffs != 2 {
			t.Fatalf("$.k0 legacy diffs = %d, want 2", f.LegacyDiffs)
		}
	}
	// An untracked path is never noise.
	if d.IsNoise("$.c999") {
		t.Fatal("untracked path classified as noise")
	}
}

func TestPathCountedOncePerObservation(t *testing.T) {
	d := New(Config{})
	d.ObserveCandidate(result("$.items[0].p", "$.items[1].p", "$.items[2].p"))
	d.ObserveCandidate(result())
	f := d.Fields()
	if len(f) != 1 || f[0].CandidateDiffs != 1 || f[0].CandidateRate != 0.5 {
		t.Fatalf("fields = %+v", f)
	}
}

func TestConcurrentUse(t *testing.T) {
	d := New(Config{MinSamples: 10})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				d.ObserveLegacyPair(result("$.rid"))
				d.ObserveCandidate(result("$.rid", fmt.Sprintf("$.items[%d].p", i+g)))
				d.Split(result("$.rid"))
				d.Fields()
			}
		})
	}
	wg.Wait()
	if s := d.Stats(); s.LegacyPairs != 800 || s.Candidates != 800 {
		t.Fatalf("stats %+v", s)
	}
	if !d.IsNoise("$.rid") || d.IsNoise("$.items[5].p") {
		t.Fatal("wrong classification after concurrent use")
	}
}
