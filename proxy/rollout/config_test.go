package rollout

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// A plan reads back what the admin API writes, with the config file's key names.
func TestPlanJSONRoundTrip(t *testing.T) {
	p := Plan{Steps: []float64{5, 25, 100}, Interval: 90 * time.Second, MinRequests: 200, MaxMismatchRate: 0.01,
		MaxErrorRateDelta: 0.02, MaxP99Ratio: 1.5, OnFailure: Pause}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"steps":[5,25,100],"interval":"1m30s","min_requests":200,"max_mismatch_rate":0.01,` +
		`"max_error_rate_delta":0.02,"max_p99_ratio":1.5,"on_failure":"pause"}`
	if string(b) != want {
		t.Fatalf("marshal:\n%s\nwant\n%s", b, want)
	}
	var back Plan
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, p) {
		t.Fatalf("round trip: %+v, want %+v", back, p)
	}
	if err := json.Unmarshal([]byte(`{"interval":"soon"}`), &back); err == nil {
		t.Fatal("a bad interval was accepted")
	}
}

// approve_at travels with the plan, and only steps may wait for approval.
func TestPlanApproveAt(t *testing.T) {
	p := Plan{Steps: []float64{5, 50, 100}, Interval: time.Minute, OnFailure: Rollback, ApproveAt: []float64{50, 100}}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back Plan
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, p) {
		t.Fatalf("round trip of %s: %+v (%v), want %+v", b, back, err, p)
	}
	if p.needsApproval(0) || !p.needsApproval(1) || !p.needsApproval(2) || p.needsApproval(3) {
		t.Fatalf("needsApproval wrong for %v", p.ApproveAt)
	}
	p.ApproveAt = []float64{25}
	if err := p.Validate(); err == nil {
		t.Fatal("approve_at 25, not a step, was accepted")
	}
}
