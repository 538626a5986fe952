package gates

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/proxy/rollout"
)

// complete_when's check passes on a run within max_differences, holds
// (never fails: the route stays at its last step) on a dirty run naming
// its first keys and how many more, and holds on a run that did not end.
func TestReconcileCheck(t *testing.T) {
	keys := []string{"key 7 differs in amount→total", "key 9 missing in new"}
	for _, tc := range []struct {
		name    string
		max     int64
		out     ReconcileOutcome
		err     error
		verdict rollout.GateVerdict
		reason  string
	}{
		{"clean", 0, ReconcileOutcome{LegacyRows: 10, NewRows: 10, Wall: time.Second}, nil, rollout.GatePass,
			"reconcile orders found 0 differing key(s), max_differences 0 (legacy 10 rows, new 10 rows, 1s)"},
		{"within max_differences", 2, ReconcileOutcome{Differences: 2, Keys: keys}, nil, rollout.GatePass,
			"reconcile orders found 2 differing key(s), max_differences 2"},
		{"dirty", 0, ReconcileOutcome{Differences: 12, Keys: keys, LegacyRows: 10, NewRows: 9}, nil, rollout.GateHold,
			"reconcile orders found 12 differing key(s) > max_differences 0: key 7 differs in amount→total; key 9 missing in new; and 10 more; run again after the interval"},
		{"did not end", 0, ReconcileOutcome{}, errors.New("dial tcp: connection refused"), rollout.GateHold,
			"reconcile orders did not finish: dial tcp: connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewReconcile(ReconcileConfig{Compare: "orders", MaxDifferences: tc.max,
				Run: func(context.Context) (ReconcileOutcome, error) { return tc.out, tc.err }})
			r := c.Check(t.Context(), rollout.GateInput{})
			if r.Verdict != tc.verdict || !strings.Contains(r.Reason, tc.reason) || r.Name != "reconcile orders" || r.Kind != "reconcile" {
				t.Errorf("got %+v\nwant %s with %q", r, tc.verdict, tc.reason)
			}
			if tc.err == nil && r.Value != float64(tc.out.Differences) {
				t.Errorf("value %v, want the differences", r.Value)
			}
		})
	}
}
