package reconcile

import (
	"context"
	"fmt"
	"slices"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// SavedTuple is a range of a key compared by key tuples, as kept progress
// holds it: the keys k with Lo < k <= Hi (a missing bound is open), both
// sides' row counts, whether it is cut before it is summed (Split) and the
// buckets it is cut into already (Bounds, first pass). Every key is its
// canonical texts. Rest marks, in the first pass with Throttle.MaxQuery,
// the key space not cut into ranges yet (see tupleWalker): Lo to the end,
// Split, Rows both sides' estimates.
type SavedTuple struct {
	Lo     canon.Key   `json:"lo,omitempty"`
	Hi     canon.Key   `json:"hi,omitempty"`
	Rows   [2]int64    `json:"rows"`
	Split  bool        `json:"split,omitempty"`
	Bounds []canon.Key `json:"bounds,omitempty"`
	Rest   bool        `json:"rest,omitempty"`
}

func savedTuple(t *tupleTask) SavedTuple {
	return SavedTuple{Lo: t.kr.lo, Hi: t.kr.hi, Rows: [2]int64{t.lcn, t.ncn}, Split: t.split, Bounds: t.bounds, Rest: t.rest}
}

func (s SavedTuple) task() *tupleTask {
	return &tupleTask{kr: keyRange{lo: s.Lo, hi: s.Hi}, lcn: s.Rows[0], ncn: s.Rows[1], split: s.Split, bounds: s.Bounds,
		rest: s.Rest && s.Hi == nil}
}

// tupleKeep is keeper's part for key tuples: the pass's ranges not
// finished and the next pass's found so far, guarded by run.mu.
type tupleKeep struct {
	todo map[*tupleTask]bool
	next []*tupleTask
}

// resumeTuple sets the run up to continue s and returns the level to start
// with, and whether it is the first pass. r.mu is held.
func (r *run) resumeTuple(s *Saved) (level []*tupleTask, top bool, err error) {
	if s.Version != SavedTupleVersion {
		return nil, false, fmt.Errorf("reconcile: kept progress has layout %d, not %d (key tuples): start over", s.Version, SavedTupleVersion)
	}
	if s.Fingerprint != r.keep.fp {
		return nil, false, ErrOtherComparison
	}
	for _, t := range append(slices.Clone(s.TupleTodo), s.TupleNext...) {
		if err := r.checkSaved(t); err != nil {
			return nil, false, err
		}
	}
	r.diffs = slices.Clone(s.Differences)
	r.rows = s.Rows
	r.keep.checks, r.keep.started, r.keep.estimate = s.Checksums, s.Started, s.Estimate
	r.resumedChecks, r.resumedRows = s.Checksums, s.Rows[0]
	r.estimate = s.Estimate
	for _, t := range s.TupleNext {
		r.tkeep.next = append(r.tkeep.next, t.task())
	}
	for _, t := range s.TupleTodo {
		level = append(level, t.task())
	}
	r.pass = s.Pass - 1 // startPass moves to s.Pass
	if len(level) == 0 {
		// Kept at the end of a pass: the next one starts.
		level, r.tkeep.next = r.tkeep.next, nil
		r.pass++
	}
	return level, r.pass == 0, nil
}

// checkSaved refuses a kept range whose keys do not have the key's columns
// or whose bounds are out of order.
func (r *run) checkSaved(t SavedTuple) error {
	keys := append([]canon.Key{t.Lo, t.Hi}, t.Bounds...)
	for _, k := range keys {
		if k != nil && len(k) != len(r.keyKinds) {
			return fmt.Errorf("reconcile: kept progress has a key of %d columns, the key has %d: start over", len(k), len(r.keyKinds))
		}
	}
	if t.Lo != nil && t.Hi != nil && canon.CompareKeys(r.keyKinds, t.Lo, t.Hi) >= 0 {
		return fmt.Errorf("reconcile: kept progress has an empty range %s: start over", keyRange{t.Lo, t.Hi})
	}
	return nil
}

// startTupleLevel begins a pass's progress (see startLevel).
func (r *run) startTupleLevel(level []*tupleTask, resumed bool) {
	if !r.keep.on.Load() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tkeep.todo = make(map[*tupleTask]bool, len(level))
	for _, t := range level {
		r.tkeep.todo[t] = true
	}
	if !resumed {
		r.tkeep.next = nil
	}
}

// finishedTuple records that t is done and saves the progress (see
// finished).
func (r *run) finishedTuple(ctx context.Context, t *tupleTask, checks int64, sub []*tupleTask, found []Difference, lrows, nrows int64) {
	r.mu.Lock()
	r.diffs = append(r.diffs, found...)
	if r.pass == 1 {
		r.rows[0] += lrows
		r.rows[1] += nrows
	}
	if !r.keep.on.Load() {
		r.mu.Unlock()
		return
	}
	delete(r.tkeep.todo, t)
	r.tkeep.next = append(r.tkeep.next, sub...)
	r.keep.checks += checks
	r.saveMu.Lock() // before r.mu is released: saves go in the order of finishing
	defer r.saveMu.Unlock()
	c := Checkpoint{Found: found, State: r.savedTupleLocked()}
	r.mu.Unlock()
	if !r.keep.on.Load() {
		return
	}
	if err := r.cfg.Checkpoint(ctx, c); err != nil {
		if r.keep.on.Swap(false) && ctx.Err() == nil {
			r.log.Warn("reconcile: could not keep the progress; the run goes on, and a resumed run would continue from the last progress kept",
				"err", err)
		}
	}
}

// savedTupleLocked is the progress now; r.mu is held.
func (r *run) savedTupleLocked() Saved {
	s := Saved{Version: SavedTupleVersion, Fingerprint: r.keep.fp, Pass: r.pass, Estimate: r.keep.estimate,
		Rows: r.rows, Checksums: r.keep.checks, Started: r.keep.started,
		Todo: []SavedRange{}, Next: []SavedRange{}, TupleTodo: []SavedTuple{}, TupleNext: []SavedTuple{}}
	for t := range r.tkeep.todo {
		s.TupleTodo = append(s.TupleTodo, savedTuple(t))
	}
	order := func(a, b SavedTuple) int {
		switch {
		case a.Lo == nil && b.Lo == nil:
			return 0
		case a.Lo == nil:
			return -1
		case b.Lo == nil:
			return 1
		}
		return canon.CompareKeys(r.keyKinds, a.Lo, b.Lo)
	}
	slices.SortFunc(s.TupleTodo, order)
	for _, t := range r.tkeep.next {
		s.TupleNext = append(s.TupleNext, savedTuple(t))
	}
	return s
}
