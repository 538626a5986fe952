package rollout

import (
	"strings"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/shadow/traffic/noise"
)

// The case: a process's first comparisons were all counted as
// mismatches before its noise detector had its samples. The window judges
// them again with what the detector knows at judging time.
func TestWindowJudgesComparisonsAgain(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	noisy := []string{"$.generated_at", "$.request_id"}
	priced := []string{"$.generated_at", "$.price", "$.request_id"}
	learnt := noise.Known{Ready: true, LegacyPairs: 20, MinSamples: 20, Paths: noisy}
	learning := noise.Known{LegacyPairs: 12, MinSamples: 20}
	rep := func(inst string, started time.Time, compared uint64, sigs []noise.SignatureCount, k noise.Known) Report {
		s := noise.Snapshot{Counts: noise.Counts{Compared: compared, Signatures: sigs}, Noise: k}.Hashed()
		return Report{Instance: inst, Started: started, Route: "r", New: Side{Requests: compared},
			Compared: compared, Mismatched: compared, Shadow: &s}
	}
	sig := func(paths []string, n uint64) noise.SignatureCount {
		return noise.SignatureCount{Paths: paths, Count: n}
	}
	cases := []struct {
		name    string
		reports []Report
		want    Figures
	}{{
		name: "learning: no data yet",
		reports: []Report{
			rep("a", t0.Add(time.Second), 185, []noise.SignatureCount{sig(noisy, 185)}, learning),
		},
		want: Figures{Compared: 185, LegacyPairs: 12, NoiseMinSamples: 20},
	}, {
		name: "learnt: the early comparisons are matches",
		reports: []Report{
			rep("a", t0.Add(time.Second), 185, []noise.SignatureCount{sig(noisy, 185)}, learning),
			rep("a", t0.Add(time.Second), 600, []noise.SignatureCount{sig(noisy, 600)}, learnt),
		},
		want: Figures{Compared: 600, NoiseReady: true, LegacyPairs: 20, NoiseMinSamples: 20},
	}, {
		name: "learnt: only the price differences count",
		reports: []Report{
			rep("a", t0.Add(time.Second), 600, []noise.SignatureCount{sig(noisy, 588), sig(priced, 12)}, learnt),
		},
		want: Figures{Compared: 600, Mismatched: 12, MismatchRate: 0.02, NoiseReady: true, LegacyPairs: 20, NoiseMinSamples: 20},
	}, {
		name: "learnt by another process: applies to all",
		reports: []Report{
			rep("a", t0.Add(time.Second), 100, []noise.SignatureCount{sig(noisy, 98), sig(priced, 2)}, learning),
			rep("b", t0.Add(time.Second), 100, []noise.SignatureCount{sig(noisy, 100)}, learnt),
		},
		want: Figures{Compared: 200, Mismatched: 2, MismatchRate: 0.01, NoiseReady: true, LegacyPairs: 20, NoiseMinSamples: 20},
	}, {
		name: "running before the window: only the comparisons since count",
		reports: []Report{
			rep("a", t0.Add(-time.Hour), 1000, []noise.SignatureCount{sig(noisy, 990), sig(priced, 10)}, learnt),
			rep("a", t0.Add(-time.Hour), 1100, []noise.SignatureCount{sig(noisy, 1000), sig(priced, 100)}, learnt),
		},
		want: Figures{Compared: 100, Mismatched: 90, MismatchRate: 0.9, NoiseReady: true, LegacyPairs: 20, NoiseMinSamples: 20},
	}, {
		name: "an older ficus without signatures: its own judgement",
		reports: []Report{
			{Instance: "old", Started: t0.Add(time.Second), Route: "r", Compared: 100, Mismatched: 5},
		},
		want: Figures{Compared: 100, Mismatched: 5, MismatchRate: 0.05, NoiseReady: true},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWindow(t0)
			for _, r := range tc.reports {
				w.add(r)
			}
			f := w.figures(t0.Add(10 * time.Second))
			got := Figures{Compared: f.Compared, Mismatched: f.Mismatched, MismatchRate: f.MismatchRate,
				NoiseReady: f.NoiseReady, LegacyPairs: f.LegacyPairs, NoiseMinSamples: f.NoiseMinSamples}
			if got.Compared != tc.want.Compared || got.Mismatched != tc.want.Mismatched || got.NoiseReady != tc.want.NoiseReady ||
				got.LegacyPairs != tc.want.LegacyPairs || got.NoiseMinSamples != tc.want.NoiseMinSamples ||
				got.MismatchRate < tc.want.MismatchRate-1e-9 || got.MismatchRate > tc.want.MismatchRate+1e-9 {
				t.Errorf("figures %+v, want %+v", got, tc.want)
			}
		})
	}
}

// What the judge makes of the window's figures: the rollback
// becomes a wait while learning, a pass once the noise is known, and a
// breach naming the rate once real differences remain.
func TestJudgeOnRejudgedFigures(t *testing.T) {
	plan := Plan{Steps: []float64{10, 100}, Interval: time.Second, MinRequests: 10, MaxMismatchRate: 0.01,
		MaxErrorRateDelta: 1, MaxP99Ratio: 100, OnFailure: Rollback}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	noisy := []string{"$.generated_at", "$.request_id"}
	judgeAt := func(sigs []noise.SignatureCount, k noise.Known) (verdict, string) {
		s := noise.Snapshot{Counts: noise.Counts{Compared: 296, Signatures: sigs}, Noise: k}.Hashed()
		w := newWindow(t0)
		w.add(Report{Instance: "a", Started: t0.Add(time.Second), Route: "r", New: Side{Requests: 100}, Compared: 296, Mismatched: 296, Shadow: &s})
		return judge(plan, w.figures(t0.Add(5*time.Second)), 5*time.Second)
	}
	learnt := noise.Known{Ready: true, LegacyPairs: 20, MinSamples: 20, Paths: noisy}
	if v, reason := judgeAt([]noise.SignatureCount{{Paths: noisy, Count: 296}}, noise.Known{LegacyPairs: 19, MinSamples: 20}); v != wait ||
		!strings.Contains(reason, "no data yet") || !strings.Contains(reason, "19 of the 20") {
		t.Errorf("learning: %v %q, want a wait saying the gate has no data yet", v, reason)
	}
	if v, reason := judgeAt([]noise.SignatureCount{{Paths: noisy, Count: 296}}, learnt); v != promote {
		t.Errorf("noise learnt: %v %q, want promote", v, reason)
	}
	priced := []string{"$.generated_at", "$.price", "$.request_id"}
	if v, reason := judgeAt([]noise.SignatureCount{{Paths: noisy, Count: 290}, {Paths: priced, Count: 6}}, learnt); v != fail ||
		!strings.Contains(reason, "mismatch rate 0.0203 > max_mismatch_rate 0.01 (6 of 296 compared)") {
		t.Errorf("2 %% price differences: %v %q, want a breach naming the rate", v, reason)
	}
}
