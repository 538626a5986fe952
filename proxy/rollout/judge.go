package rollout

import (
	"fmt"
	"strings"
	"time"
)

// verdict is what one evaluation of a step concludes.
type verdict int

const (
	wait    verdict = iota // not enough requests or time yet
	promote                // every gate holds and the interval passed
	fail                   // a gate is breached: act per on_failure now
)

// judge decides on a step from its figures and the time spent at it. It
// judges only once new has served MinRequests; a breach then acts at
// once, without waiting for the interval. Gates without data hold: the
// mismatch rate needs shadow comparisons, the p99 ratio needs latencies
// from both sides. While comparisons exist but the noise detector lacks
// its minimum samples, the mismatch gate has no data yet either: it
// neither fails (noise would count as mismatches) nor lets the step be
// promoted unjudged — the step waits, and the reason says why.
func judge(p Plan, f Figures, atStep time.Duration) (verdict, string) {
	if f.NewRequests < p.MinRequests {
		return wait, fmt.Sprintf("new served %d of the %d requests a step needs", f.NewRequests, p.MinRequests)
	}
	var breaches []string
	noData := ""
	switch {
	case f.Compared == 0:
	case !f.NoiseReady:
		noData = fmt.Sprintf("mismatch gate: no data yet: the noise detector has %d of the %d legacy pairs it needs "+
			"before it can tell noise from real differences (%d compared so far)", f.LegacyPairs, f.NoiseMinSamples, f.Compared)
	case f.MismatchRate > p.MaxMismatchRate:
		breaches = append(breaches, fmt.Sprintf("mismatch rate %.4f > max_mismatch_rate %v (%d of %d compared)",
			f.MismatchRate, p.MaxMismatchRate, f.Mismatched, f.Compared))
	}
	if f.ErrorRateDelta > p.MaxErrorRateDelta {
		breaches = append(breaches, fmt.Sprintf("5xx rate new %.4f - legacy %.4f = %.4f > max_error_rate_delta %v",
			f.NewErrorRate, f.LegacyErrorRate, f.ErrorRateDelta, p.MaxErrorRateDelta))
	}
	if f.LegacyP99 > 0 && f.NewP99 > 0 && f.P99Ratio > p.MaxP99Ratio {
		breaches = append(breaches, fmt.Sprintf("p99 new %.1fms / legacy %.1fms = %.2f > max_p99_ratio %v",
			f.NewP99*1000, f.LegacyP99*1000, f.P99Ratio, p.MaxP99Ratio))
	}
	if len(breaches) > 0 {
		return fail, strings.Join(breaches, "; ")
	}
	if noData != "" {
		return wait, noData
	}
	if atStep < p.Interval {
		return wait, fmt.Sprintf("gates hold; %s of the %s interval passed", atStep.Round(time.Second), p.Interval)
	}
	return promote, fmt.Sprintf("gates hold after %s and %d requests to new", atStep.Round(time.Millisecond), f.NewRequests)
}
