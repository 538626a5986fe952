package gates

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ficus-migrate/ficus/proxy/rollout"
)

// ReconcileOutcome is what one reconcile run found.
type ReconcileOutcome struct {
	// Differences is how many keys differ; Keys describe the first few
	// (key, kind and column names: never the values, which may be
	// personal data and end up in events and notifications).
	Differences         int
	Keys                []string
	LegacyRows, NewRows int64
	Wall                time.Duration
}

// ReconcileConfig configures a Reconcile check.
type ReconcileConfig struct {
	// Compare is the compare_data entry reconciled.
	Compare        string
	MaxDifferences int64
	// Run runs one reconcile of the pair, bounded by ctx.
	Run func(ctx context.Context) (ReconcileOutcome, error)
}

// Reconcile is complete_when: a reconcile run of a compare_data pair that
// must find at most MaxDifferences differing keys. It never fails a step:
// a run that is not clean enough (or does not finish) holds the last step
// with the keys in its reason.
type Reconcile struct{ cfg ReconcileConfig }

// NewReconcile returns the check.
func NewReconcile(cfg ReconcileConfig) *Reconcile { return &Reconcile{cfg: cfg} }

// Name says what the check runs.
func (r *Reconcile) Name() string { return "reconcile " + r.cfg.Compare }

// Check runs one reconcile.
func (r *Reconcile) Check(ctx context.Context, _ rollout.GateInput) rollout.GateResult {
	res := rollout.GateResult{Name: r.Name(), Kind: "reconcile", Threshold: fmt.Sprintf("max_differences %d", r.cfg.MaxDifferences)}
	out, err := r.cfg.Run(ctx)
	if err != nil {
		res.Verdict = rollout.GateHold
		res.Reason = fmt.Sprintf("reconcile %s did not finish: %v", r.cfg.Compare, err)
		return res
	}
	res.Value = float64(out.Differences)
	res.Measures = map[string]float64{"differences": float64(out.Differences), "legacy_rows": float64(out.LegacyRows),
		"new_rows": float64(out.NewRows), "wall_seconds": out.Wall.Seconds()}
	cost := fmt.Sprintf("legacy %d rows, new %d rows, %s", out.LegacyRows, out.NewRows, out.Wall.Round(time.Millisecond))
	if int64(out.Differences) <= r.cfg.MaxDifferences {
		res.Verdict = rollout.GatePass
		res.Reason = fmt.Sprintf("reconcile %s found %d differing key(s), max_differences %d (%s)", r.cfg.Compare,
			out.Differences, r.cfg.MaxDifferences, cost)
		return res
	}
	keys := strings.Join(out.Keys, "; ")
	if more := out.Differences - len(out.Keys); more > 0 {
		keys += fmt.Sprintf("; and %d more", more)
	}
	// No cost in this reason: a change in what the check says is published
	// (and notified), so the same keys must read the same every run. The
	// cost is in Measures.
	res.Verdict = rollout.GateHold
	res.Reason = fmt.Sprintf("reconcile %s found %d differing key(s) > max_differences %d: %s; run again after the interval",
		r.cfg.Compare, out.Differences, r.cfg.MaxDifferences, keys)
	return res
}
