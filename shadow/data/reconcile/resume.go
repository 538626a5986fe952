package reconcile

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"
)

// Saved is a run's progress, as kept after every finished range (see
// Config.Checkpoint) and given back to continue it (Config.Resume). A range
// is finished when both sides summed it and its differing buckets are either
// compared row by row or queued as the next pass's ranges: a continued run
// never checksums a finished range again, and redoes only the ranges that
// were running when the earlier run stopped.
type Saved struct {
	// Version of this layout; a different one is not continued.
	Version int `json:"version"`
	// Fingerprint says what was compared (tables, key, columns, rules,
	// where, window): a run over anything else does not continue it.
	Fingerprint string `json:"fingerprint"`
	// Pass is the bisection level in progress (1: the whole tables).
	Pass int `json:"pass"`
	// Todo are the pass's ranges not finished; Rest, in the first pass with
	// Throttle.MaxQuery, is the key space not handed out yet; Next are the
	// next pass's ranges found so far.
	Todo []SavedRange `json:"todo"`
	Rest *SavedRange  `json:"rest,omitempty"`
	Next []SavedRange `json:"next"`
	// TupleTodo and TupleNext are Todo and Next of a key compared by key
	// tuples (layout SavedTupleVersion; Todo and Next are then empty).
	TupleTodo []SavedTuple `json:"tuple_todo,omitempty"`
	TupleNext []SavedTuple `json:"tuple_next,omitempty"`
	// Estimate is the row estimate the run started with; Rows the rows of
	// each side counted by the first pass's finished ranges.
	Estimate int64    `json:"estimate"`
	Rows     [2]int64 `json:"rows"`
	// Checksums is how many range scans the finished ranges took, in all
	// the runs so far.
	Checksums int64 `json:"checksums"`
	// Started is when the first of the runs started.
	Started time.Time `json:"started"`
	// DiffChunks is how many chunks of differences the store holds for
	// this state, set by the store; Differences are those chunks'
	// differences, filled in by the store when it loads the state.
	DiffChunks  int          `json:"diff_chunks"`
	Differences []Difference `json:"-"`
}

// SavedVersion is the layout of Saved this code writes for a key of one
// integer column (integer ranges).
const SavedVersion = 1

// SavedTupleVersion is the layout of Saved for a key compared by key
// tuples: ranges are SavedTuple. An earlier ficus refuses it by its
// version; this one refuses an integer-range layout for a tuple key (and
// the other way round) the same way.
const SavedTupleVersion = 2

// SavedRange is a range of keys summed in buckets of Step keys.
type SavedRange struct {
	Lo, Hi, Step int64
}

// MarshalJSON writes a range as [lo, hi, step]: a pass may hold many.
func (s SavedRange) MarshalJSON() ([]byte, error) {
	return json.Marshal([3]int64{s.Lo, s.Hi, s.Step})
}

// UnmarshalJSON reads [lo, hi, step].
func (s *SavedRange) UnmarshalJSON(b []byte) error {
	var a [3]int64
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	if a[1] < a[0] || a[2] < 1 {
		return fmt.Errorf("bad range %v", a)
	}
	*s = SavedRange{a[0], a[1], a[2]}
	return nil
}

// Checkpoint is one save of the progress: the state after a range finished,
// and the differences that range found (the state's earlier differences are
// already kept). A store keeps Found before State, and State counts what it
// kept of Found (DiffChunks): a state never names differences that are not
// kept, and differences written by a save that failed half-way are not
// counted by any state.
type Checkpoint struct {
	State Saved
	Found []Difference
}

// ErrOtherComparison says the kept progress is of a comparison that is not
// the one configured now.
var ErrOtherComparison = errors.New("the kept progress is of a different comparison (tables, columns, rules, where or window changed)")

// Fingerprint identifies what cfg compares, for Saved.Fingerprint.
func Fingerprint(cfg Config) string {
	b, _ := json.Marshal([]any{cfg.Legacy.Engine(), cfg.Legacy.Table(), cfg.New.Engine(), cfg.New.Table()})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:16])
}

// keeper tracks a run's progress for Config.Checkpoint: the pass's ranges
// not finished and the next pass's found so far. Its fields are guarded by
// run.mu; saving is one at a time (saveMu) in the order ranges finish.
type keeper struct {
	on       atomic.Bool // Config.Checkpoint is set and no save failed
	todo     map[task]bool
	next     []task
	checks   int64 // range scans of finished ranges, all runs
	started  time.Time
	estimate int64
	fp       string
}

// resumeFrom sets the run up to continue s: its counts and differences, and
// the level to start with. r.mu is held.
func (r *run) resumeFrom(s *Saved) (level []task, rest *span, err error) {
	if s.Version != SavedVersion {
		return nil, nil, fmt.Errorf("reconcile: kept progress has layout %d, not %d (integer key ranges): start over", s.Version, SavedVersion)
	}
	if s.Fingerprint != r.keep.fp {
		return nil, nil, ErrOtherComparison
	}
	r.diffs = slices.Clone(s.Differences)
	r.rows = s.Rows
	r.keep.checks, r.keep.started, r.keep.estimate = s.Checksums, s.Started, s.Estimate
	r.resumedChecks = s.Checksums
	r.resumedRows = s.Rows[0]
	for _, t := range s.Next {
		r.keep.next = append(r.keep.next, task{span{t.Lo, t.Hi}, t.Step})
	}
	for _, t := range s.Todo {
		level = append(level, task{span{t.Lo, t.Hi}, t.Step})
	}
	if s.Rest != nil {
		rest = &span{s.Rest.Lo, s.Rest.Hi}
	}
	r.pass = s.Pass - 1 // startPass moves to s.Pass
	return level, rest, nil
}

// finished records that t is done, with its next-pass ranges and the
// differences it found, and saves the progress. A save that fails is
// logged and ends the saving for this run: the progress kept stays that of
// the last save, which a later run may continue safely.
func (r *run) finished(ctx context.Context, t task, checks int64, sub []task, found []Difference, lrows, nrows int64) {
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
	delete(r.keep.todo, t)
	r.keep.next = append(r.keep.next, sub...)
	r.keep.checks += checks
	r.saveMu.Lock() // before r.mu is released: saves go in the order of finishing
	defer r.saveMu.Unlock()
	c := Checkpoint{Found: found, State: r.savedLocked()}
	r.mu.Unlock()
	if !r.keep.on.Load() {
		return // an earlier save failed: a later state would name its differences
	}
	if err := r.cfg.Checkpoint(ctx, c); err != nil {
		if r.keep.on.Swap(false) && ctx.Err() == nil {
			r.log.Warn("reconcile: could not keep the progress; the run goes on, and a resumed run would continue from the last progress kept",
				"err", err)
		}
	}
}

// savedLocked is the progress now; r.mu is held.
func (r *run) savedLocked() Saved {
	s := Saved{Version: SavedVersion, Fingerprint: r.keep.fp, Pass: r.pass, Estimate: r.keep.estimate,
		Rows: r.rows, Checksums: r.keep.checks, Started: r.keep.started,
		Todo: []SavedRange{}, Next: []SavedRange{}}
	for t := range r.keep.todo {
		s.Todo = append(s.Todo, SavedRange{t.s.lo, t.s.hi, t.step})
	}
	slices.SortFunc(s.Todo, func(a, b SavedRange) int { return cmp.Compare(a.Lo, b.Lo) })
	for _, t := range r.keep.next {
		s.Next = append(s.Next, SavedRange{t.s.lo, t.s.hi, t.step})
	}
	if r.walk != nil && r.pass == 1 {
		if lo, hi, ok := r.walk.rest(); ok {
			s.Rest = &SavedRange{lo, hi, 1}
		}
	}
	return s
}

// startLevel begins a pass's progress: level's ranges are pending, and the
// next pass's are kept from a resumed state (the first pass of a resumed
// run) or start empty.
func (r *run) startLevel(level []task, resumed bool) {
	if !r.keep.on.Load() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keep.todo = make(map[task]bool, len(level))
	for _, t := range level {
		r.keep.todo[t] = true
	}
	if !resumed {
		r.keep.next = nil
	}
}
