package gates

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/proxy/rollout"
	"github.com/ficus-migrate/ficus/shadow/data/continuous"
)

// The data gate sums every process's tallies since the window began: what
// was counted before is the baseline, a process that started later counts
// from zero, another comparison's tallies are ignored. It holds while no
// process publishes, before max_lag has passed since the step began and
// while no key settled; it fails on any threshold with every figure in the
// reason.
func TestDataGate(t *testing.T) {
	n := testenv.MustStartNATS(t)
	pub := n.Connect(t)
	f := func(x float64) *float64 { return &x }
	g, err := NewData(DataConfig{Name: "orders", Compare: "orders", MaxDifferRate: f(0.001), MaxMissingRate: f(0),
		MaxBehindSeconds: f(5), Conn: n.Connect(t), Stale: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	bounds := continuous.BehindBounds()
	behind := func(at float64, n uint64) []uint64 { // n changes compared at about `at` seconds behind
		b := make([]uint64, len(bounds)+1)
		for i, ub := range bounds {
			if at <= ub {
				b[i] = n
				return b
			}
		}
		b[len(bounds)] = n
		return b
	}
	early := time.Now().Add(-time.Hour)
	send := func(tl continuous.Tally) {
		t.Helper()
		tl.Name, tl.MaxLagSeconds = "orders", 2
		if tl.Started.IsZero() {
			tl.Started = early
		}
		b, _ := json.Marshal(tl)
		if err := pub.Publish(continuous.TallyPrefix+tl.Name, b); err != nil {
			t.Fatal(err)
		}
		if err := pub.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	// check waits for the gate to have seen what was sent (NATS delivers
	// asynchronously) and returns its result.
	check := func(in rollout.GateInput, want rollout.GateVerdict, settled float64, reason string) rollout.GateResult {
		t.Helper()
		var r rollout.GateResult
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if r = g.Check(t.Context(), in); r.Verdict == want && r.Measures["settled"] == settled && strings.Contains(r.Reason, reason) {
				return r
			}
		}
		t.Fatalf("gate %+v, want %s with %v settled, reason %q", r, want, settled, reason)
		return r
	}
	longAgo := rollout.GateInput{Route: "r", StepStarted: time.Now().Add(-time.Minute)}

	if r := g.Check(t.Context(), longAgo); r.Verdict != rollout.GateHold || !strings.Contains(r.Reason, "no process publishes compare_data orders") {
		t.Fatalf("without publishers: %+v", r)
	}
	// Before the window: 1000 settled, 500 differing. None of it counts:
	// a process's first tally is its baseline.
	send(continuous.Tally{Instance: "a", Settled: 1000, Differs: 500, Changes: 2000, Behind: behind(0.1, 2000)})
	check(longAgo, rollout.GateHold, 0, "no key settled during the step yet")
	g.StartWindow(time.Now())
	bStarted := time.Now().Add(time.Second)
	// After it: a's clean progress, b (started now) from zero, and a
	// tally of another comparison on its own subject.
	send(continuous.Tally{Instance: "a", Settled: 1400, Differs: 500, Changes: 2800, Behind: behind(0.1, 2800)})
	send(continuous.Tally{Instance: "b", Started: bStarted, Settled: 600, Changes: 1200, Behind: behind(0.1, 1200)})
	b, _ := json.Marshal(continuous.Tally{Instance: "c", Name: "payments", Settled: 100, Differs: 100})
	_ = pub.Publish(continuous.TallyPrefix+"payments", b)
	// A forged tally with more buckets than ficus writes is dropped.
	forged, _ := json.Marshal(continuous.Tally{Instance: "x", Name: "orders", Started: time.Now().Add(time.Second),
		Settled: 999, Differs: 999, Behind: make([]uint64, 10_000)})
	_ = pub.Publish(continuous.TallyPrefix+"orders", forged)
	r := check(longAgo, rollout.GatePass, 1000, "")
	if r.Value != 0 || r.Measures["differs"] != 0 || r.Measures["behind_p99_seconds"] != 0.1 || r.Measures["changes"] != 2000 ||
		r.Threshold != "max_differ_rate 0.001, max_missing_rate 0, max_behind_seconds 5" {
		t.Errorf("clean window: %+v", r)
	}
	// The step began a second ago: max_lag (2s) has not passed (a
	// breach would still fail: findings do not go away by waiting).
	if r := g.Check(t.Context(), rollout.GateInput{StepStarted: time.Now().Add(-time.Second)}); r.Verdict != rollout.GateHold ||
		!strings.Contains(r.Reason, "max_lag (2s)") {
		t.Errorf("a step younger than max_lag: %+v", r)
	}
	// 1 % differ: a fail naming every figure.
	send(continuous.Tally{Instance: "b", Started: bStarted, Settled: 1600, Differs: 20, MissingInNew: 1,
		Changes: 3200, Behind: behind(0.1, 3200)})
	r = check(longAgo, rollout.GateFail, 2000, "")
	for _, want := range []string{"differ rate 0.0100 > max_differ_rate 0.001", "missing rate 0.0005 > max_missing_rate 0",
		"compare_data orders over the step: differ rate 0.0100 (20 of 2000 settled keys)"} {
		if !strings.Contains(r.Reason, want) {
			t.Errorf("fail reason %q lacks %q", r.Reason, want)
		}
	}
	// Falling behind fails too, even with clean data.
	g.StartWindow(time.Now())
	send(continuous.Tally{Instance: "b", Started: bStarted, Settled: 1700, Differs: 20, MissingInNew: 1,
		Changes: 3300, Behind: append(behind(0.1, 3200)[:0:0], addBuckets(behind(0.1, 3200), behind(20, 100))...)})
	r = check(longAgo, rollout.GateFail, 100, "")
	if !strings.Contains(r.Reason, "behind p99 30s > max_behind_seconds 5") {
		t.Errorf("behind: %+v", r)
	}
	// A window in which nothing settled holds.
	g.StartWindow(time.Now())
	check(longAgo, rollout.GateHold, 0, "no key settled during the step yet")
}

func addBuckets(a, b []uint64) []uint64 {
	out := make([]uint64, len(a))
	for i := range a {
		out[i] = a[i] + b[i]
	}
	return out
}
