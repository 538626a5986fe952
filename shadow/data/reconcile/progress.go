package reconcile

import "time"

// Progress is where a running comparison is.
type Progress struct {
	// Phase is PhaseEstimating while the key bounds and row estimates are
	// read (Pass is then 0 and the counts are not known yet), and
	// PhaseComparing once the first pass has started.
	Phase string
	// Pass is the bisection level: 1 checksums the whole tables, later
	// passes only the ranges that differed.
	Pass int
	// RangesDone of RangesTotal are checksummed in this pass.
	RangesDone, RangesTotal int64
	// Rows is how many legacy rows were checksummed so far, of about
	// EstimatedRows (the database's estimate; 0 when it has none).
	// ResumedRows of them were checksummed by the earlier runs a resumed
	// run continues (they do not count towards RowsPerSecond).
	Rows, EstimatedRows, ResumedRows int64
	// Differences found so far.
	Differences int
	Elapsed     time.Duration
	// RowsPerSecond is this run's rows over Elapsed. ETA is the time left by that
	// rate in the first pass (from EstimatedRows), by the pace of the
	// pass's ranges later; 0 when it cannot be told yet.
	RowsPerSecond float64
	ETA           time.Duration
	// Paused says why the run is waiting now (Throttle: a server over a
	// limit, the pause file), "" when it is not; PausedFor is how long
	// the finished pauses took.
	Paused    string
	PausedFor time.Duration
}

// Progress phases.
const (
	PhaseEstimating = "estimating"
	PhaseComparing  = "comparing"
)

// progress reads the pass's fields under r.mu, which startPass holds
// while it moves to the next pass: the ticker runs on its own clock, and
// a read between the pass number and its range counts would report a
// pass that does not exist yet, or one that seems to go back.
func (r *run) progress(start time.Time) Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := Progress{Phase: PhaseEstimating, Differences: len(r.diffs), Elapsed: time.Since(start)}
	p.Paused, p.PausedFor, _, _ = r.gate.status()
	if r.pass == 0 {
		return p
	}
	p.Phase, p.Pass, p.RangesDone, p.RangesTotal = PhaseComparing, r.pass, r.rangesDone.Load(), r.rangesTotal
	p.Rows, p.EstimatedRows, p.ResumedRows = r.resumedRows+r.rowsSummed.Load(), r.estimate, r.resumedRows
	p.RowsPerSecond, p.ETA = eta(p, time.Since(r.passStart))
	return p
}

// eta computes Progress.RowsPerSecond and ETA, given how long the pass
// has run.
func eta(p Progress, inPass time.Duration) (rate float64, left time.Duration) {
	if p.Elapsed > 0 {
		rate = float64(p.Rows-p.ResumedRows) / p.Elapsed.Seconds()
	}
	switch {
	case p.Pass == 1 && rate > 0 && p.EstimatedRows > p.Rows:
		left = time.Duration(float64(p.EstimatedRows-p.Rows) / rate * float64(time.Second))
	case p.Pass > 1 && p.RangesDone > 0 && p.RangesTotal > p.RangesDone:
		left = time.Duration(float64(inPass) / float64(p.RangesDone) * float64(p.RangesTotal-p.RangesDone))
	}
	return rate, left
}

// startPass moves to the next pass, of ranges ranges. Every range of the
// previous pass is done: nothing adds to rangesDone meanwhile.
func (r *run) startPass(ranges int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pass++
	r.passStart = time.Now()
	r.rangesDone.Store(0)
	r.rangesTotal = int64(ranges)
}
