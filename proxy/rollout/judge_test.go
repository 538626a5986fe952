package rollout

import (
	"strings"
	"testing"
	"time"
)

func TestJudge(t *testing.T) {
	plan := Plan{Steps: []float64{1, 5, 25}, Interval: time.Minute, MinRequests: 100,
		MaxMismatchRate: 0.01, MaxErrorRateDelta: 0.005, MaxP99Ratio: 1.5, OnFailure: Rollback}
	healthy := Figures{NewRequests: 200, LegacyRequests: 2000, Compared: 500, Mismatched: 2, MismatchRate: 0.004, NoiseReady: true,
		NewErrorRate: 0.01, LegacyErrorRate: 0.008, ErrorRateDelta: 0.002, NewP99: 0.012, LegacyP99: 0.010, P99Ratio: 1.2}
	with := func(change func(*Figures)) Figures { f := healthy; change(&f); return f }
	cases := []struct {
		name   string
		f      Figures
		atStep time.Duration
		want   verdict
		reason string
	}{
		{"healthy after the interval", healthy, 61 * time.Second, promote, "gates hold"},
		{"healthy before the interval", healthy, 30 * time.Second, wait, "interval"},
		{"too few requests, however bad", with(func(f *Figures) { f.NewRequests, f.ErrorRateDelta = 99, 1 }), time.Hour, wait, "99 of the 100"},
		{"mismatches breach before the interval", with(func(f *Figures) { f.Mismatched, f.MismatchRate = 25, 0.05 }), time.Second, fail, "mismatch rate 0.0500"},
		{"mismatch rate at the limit holds", with(func(f *Figures) { f.MismatchRate = 0.01 }), 61 * time.Second, promote, ""},
		{"no shadow: the mismatch gate holds", with(func(f *Figures) { f.Compared, f.MismatchRate = 0, 0 }), 61 * time.Second, promote, ""},
		{"noise not learnt yet: no data, the step waits", with(func(f *Figures) {
			f.NoiseReady, f.Mismatched, f.MismatchRate, f.LegacyPairs, f.NoiseMinSamples = false, 0, 0, 12, 20
		}), time.Hour, wait, "mismatch gate: no data yet: the noise detector has 12 of the 20 legacy pairs"},
		{"noise not learnt yet: other gates still fail", with(func(f *Figures) {
			f.NoiseReady, f.Mismatched, f.MismatchRate, f.NewErrorRate, f.ErrorRateDelta = false, 0, 0, 0.05, 0.042
		}), time.Second, fail, "max_error_rate_delta"},
		{"5xx breach", with(func(f *Figures) { f.NewErrorRate, f.ErrorRateDelta = 0.05, 0.042 }), time.Second, fail, "max_error_rate_delta"},
		{"legacy errs as much: no breach", with(func(f *Figures) { f.NewErrorRate, f.LegacyErrorRate, f.ErrorRateDelta = 0.05, 0.05, 0 }), 61 * time.Second, promote, ""},
		{"slow new breaches", with(func(f *Figures) { f.NewP99, f.P99Ratio = 0.4, 40 }), time.Second, fail, "max_p99_ratio"},
		{"no legacy latency: the p99 gate holds", with(func(f *Figures) { f.LegacyP99, f.P99Ratio = 0, 0 }), 61 * time.Second, promote, ""},
		{"all breaches named", with(func(f *Figures) { f.MismatchRate, f.ErrorRateDelta, f.P99Ratio = 0.5, 0.5, 5 }), time.Second, fail, "compared); 5xx rate new 0.0100 - legacy 0.0080 = 0.5000 > max_error_rate_delta 0.005; p99 new 12.0ms"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, reason := judge(plan, c.f, c.atStep)
			if got != c.want || !strings.Contains(reason, c.reason) {
				t.Fatalf("judge = %v %q, want %v containing %q", got, reason, c.want, c.reason)
			}
		})
	}
}

func TestWindowSumsProcessesSinceItsStart(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	bounds := []float64{0.005, 0.01, 0.1, 1}
	rep := func(inst string, started time.Time, newReq, new5xx uint64, newBuckets []uint64) Report {
		return Report{Instance: inst, Started: started, Route: "r",
			New:    Side{Requests: newReq, Status5xx: new5xx, Bounds: bounds, Buckets: newBuckets, Count: newReq},
			Legacy: Side{Requests: 1000, Bounds: bounds, Buckets: []uint64{1000, 1000, 1000, 1000}, Count: 1000}}
	}
	w := newWindow(t0)
	// a: running before the window: its first report is the baseline.
	w.add(rep("a", t0.Add(-time.Hour), 50, 1, []uint64{50, 50, 50, 50}))
	w.add(rep("a", t0.Add(-time.Hour), 150, 3, []uint64{148, 150, 150, 150}))
	// b: started inside the window: everything it counted is in it.
	w.add(rep("b", t0.Add(time.Second), 100, 0, []uint64{0, 0, 99, 100}))
	f := w.figures(t0.Add(10 * time.Second))
	// a's legacy counter did not move; b's 1000 all count.
	if f.NewRequests != 200 || f.New5xx != 2 || f.Processes != 2 || f.LegacyRequests != 1000 {
		t.Fatalf("figures = %+v, want 200 new requests with 2 5xx and 1000 legacy ones from 2 processes", f)
	}
	if f.NewErrorRate != 0.01 {
		t.Fatalf("new error rate = %v, want 0.01", f.NewErrorRate)
	}
	// 200 samples: 98 <= 5ms, 2 in (5,10], 99 in (10,100], 1 in (100ms,1s]: p99 (rank 198) is in (10ms,100ms].
	if f.NewP99 <= 0.01 || f.NewP99 > 0.1 {
		t.Fatalf("new p99 = %v, want within (0.01, 0.1]", f.NewP99)
	}
	w.reset(t0.Add(10 * time.Second))
	if f := w.figures(t0.Add(11 * time.Second)); f.NewRequests != 0 {
		t.Fatalf("after reset: %d new requests, want 0", f.NewRequests)
	}
	w.add(rep("a", t0.Add(-time.Hour), 160, 3, []uint64{158, 160, 160, 160}))
	if f := w.figures(t0.Add(12 * time.Second)); f.NewRequests != 10 || f.NewP99 > 0.005 {
		t.Fatalf("after reset and 10 more: %+v", f)
	}
}

func TestHistogramQuantile(t *testing.T) {
	cases := []struct {
		name    string
		buckets []uint64
		count   uint64
		q, want float64
	}{
		{"empty", []uint64{0, 0}, 0, 0.99, 0},
		{"all in the first bucket", []uint64{100, 100}, 100, 0.5, 0.5},
		{"interpolated in the second", []uint64{50, 100}, 100, 0.75, 1.5},
		{"beyond the last bound", []uint64{10, 10}, 100, 0.99, 2},
	}
	for _, c := range cases {
		h := hist{bounds: []float64{1, 2}, buckets: c.buckets, count: c.count}
		if got := h.quantile(c.q); got != c.want {
			t.Errorf("%s: quantile(%v) = %v, want %v", c.name, c.q, got, c.want)
		}
	}
}
