package continuous

import (
	"sync/atomic"
	"time"
)

// trailCap bounds how much longer than max_lag a key waits for a trailing
// side (see trailing.wait): a side whose stream stopped is still reported,
// only later.
const trailCap = 10

// trailing remembers, per side, how long after its commit that side's
// latest change was compared. max_lag is the user's word on how far the
// new side may trail legacy in commit time; measured in wall-clock time
// from when the comparer saw the first side, it would also count how far
// one side's capture runs behind the other's — on a loaded host, seconds —
// and report equal rows as missing or differing, which a rollout's data
// gate would then roll back. So a key waits max_lag plus how far behind
// its stale side's stream is running.
type trailing struct {
	ms [2]atomic.Int64 // legacy, new
}

// note records the behind time of a change just compared on one side.
func (t *trailing) note(legacy bool, behind time.Duration) {
	t.ms[side(legacy)].Store(max(behind.Milliseconds(), 0))
}

// wait is how much longer a pending key must wait at now before it is
// reported: max_lag from when its sides began to disagree, plus how far
// behind the stream of its stale side (the one without the latest change)
// was running at its latest change, at most trailCap × max_lag.
func (t *trailing) wait(k *keyState, maxLag time.Duration, now time.Time) time.Duration {
	staleLegacy := k.New.Seen && (!k.Legacy.Seen || k.Legacy.At < k.New.At)
	extra := min(time.Duration(t.ms[side(staleLegacy)].Load())*time.Millisecond, trailCap*maxLag)
	due := time.UnixMilli(k.Since).Add(maxLag + extra)
	return max(due.Sub(now), 0)
}

func side(legacy bool) int {
	if legacy {
		return 0
	}
	return 1
}
