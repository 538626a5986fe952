package reconcile

import (
	"iter"
	"sync"
	"time"
)

// sizer picks the key width of the next first-pass range so that its
// checksum query takes about target (Throttle.MaxQuery), as
// pt-table-checksum sizes its chunks: it keeps a moving average of the keys
// per second ranges were scanned at, weighing the past 0.75. It grows at
// most fourfold per range (an empty stretch of keys is scanned in no time
// and says little about the next) and shrinks at once after a range that
// took longer than target. It never goes below minWidth: a query has a
// fixed cost (a round trip, planning) that a smaller range cannot save,
// and a target below it would otherwise shrink ranges to single keys.
type sizer struct {
	target   time.Duration
	minWidth uint64  // the narrowest range (see firstPass)
	maxWidth uint64  // the widest range (see firstPass: bucket size, rate limit)
	width    uint64  // the next range's width
	rate     float64 // keys per second; 0 before the first range
}

// maxSizerWidth keeps widths exact in a float64 and convertible back.
const maxSizerWidth = uint64(1) << 62

func newSizer(target time.Duration, first, minWidth, maxWidth uint64) *sizer {
	maxWidth = min(max(maxWidth, 1), maxSizerWidth)
	minWidth = min(max(minWidth, 1), maxWidth)
	return &sizer{target: target, minWidth: minWidth, maxWidth: maxWidth, width: min(max(first, minWidth), maxWidth)}
}

// observe records that a range of width keys took took (the slower side).
func (s *sizer) observe(width uint64, took time.Duration) {
	took = max(took, time.Millisecond) // below a timer's resolution
	kps := float64(width) / took.Seconds()
	switch {
	case s.rate == 0:
		s.rate = kps
	case took > s.target:
		s.rate = min(0.75*s.rate+0.25*kps, kps)
	default:
		s.rate = 0.75*s.rate + 0.25*kps
	}
	w := min(s.rate*s.target.Seconds(), 4*float64(width), float64(s.maxWidth))
	s.width = uint64(max(w, float64(s.minWidth)))
}

// walker hands out the first pass's ranges from left to right, each as
// wide as the sizer says when it is taken.
type walker struct {
	mu     sync.Mutex
	s      *sizer
	next   int64 // first key of the next range
	end    int64 // last key of the key space
	done   bool
	issued int64
}

func newWalker(all span, s *sizer) *walker { return &walker{s: s, next: all.lo, end: all.hi} }

// take returns the next range, or false when the key space is covered.
func (w *walker) take() (span, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return span{}, false
	}
	lo := w.next
	hi := int64(uint64(lo) + w.s.width - 1)
	if hi < lo || hi >= w.end { // past int64's end, or the key space's
		hi, w.done = w.end, true
	} else {
		w.next = hi + 1
	}
	w.issued++
	return span{lo, hi}, true
}

// rest is the key space not handed out yet; ok is false when none is left.
func (w *walker) rest() (lo, hi int64, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.next, w.end, !w.done
}

// observe feeds a finished range's time to the sizer.
func (w *walker) observe(s span, took time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.s.observe(uint64(s.hi-s.lo)+1, took)
}

// total estimates the pass's ranges: those issued and those the rest of
// the key space will take at the current width.
func (w *walker) total() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return w.issued
	}
	left := uint64(w.end-w.next) + 1
	return w.issued + int64(min(left/w.s.width+1, 1<<40))
}

// firstRangeRows is how many rows, by the estimate, the first ranges sized
// by query time hold: small enough to be quick on any server. minRangeRows
// is the fewest they shrink to (see sizer).
const (
	firstRangeRows = 1000
	minRangeRows   = 100
)

// rangeRows is the most rows a first-pass range sized by query time holds.
func (r *run) rangeRows() int64 {
	perRange := int64(r.cfg.Segments) * r.cfg.BucketRows
	if rl := r.cfg.Throttle.RateLimit; rl > 0 {
		perRange = min(perRange, max(int64(rl), int64(r.cfg.Segments)))
	}
	return perRange
}

// firstPass returns the first pass's ranges. With Throttle.MaxQuery it
// returns none and sets r.walk, which sizes them as they go. A range holds
// at most about Segments × BucketRows rows (so that a bucket's text stays
// small) and, with a rate limit, about one second's budget of rows.
func (r *run) firstPass(all span, est int64) []task {
	perRange := r.rangeRows()
	if r.cfg.Throttle.MaxQuery > 0 {
		width := uint64(all.hi-all.lo) + 1
		if width == 0 { // the whole int64 range
			width = ^uint64(0)
		}
		keysPerRow := 1.0
		if est > 0 {
			keysPerRow = float64(width) / float64(est)
		}
		keys := func(rows float64) uint64 { return uint64(min(rows*keysPerRow, float64(maxSizerWidth))) }
		maxWidth := width
		if est > 0 {
			maxWidth = keys(float64(perRange))
		}
		r.walk = newWalker(all, newSizer(r.cfg.Throttle.MaxQuery, keys(firstRangeRows), keys(minRangeRows), maxWidth))
		return nil
	}
	ranges := max(int64(r.cfg.Parallel), est/perRange+1)
	var level []task
	for _, s := range split(all, int(min(ranges, 1<<20))) {
		level = append(level, task{s, stepFor(s, r.cfg.Segments)})
	}
	return level
}

// tasks yields a pass's ranges: the walker's in the first pass, then level's.
func (r *run) tasks(level []task, top bool) iter.Seq[task] {
	return func(yield func(task) bool) {
		if top && r.walk != nil {
			for {
				// Taken and marked pending at once: kept progress never
				// misses a range between the walker's rest and the pending.
				r.mu.Lock()
				s, ok := r.walk.take()
				t := task{s, stepFor(s, r.cfg.Segments)}
				if ok {
					r.rangesTotal = r.walk.total()
					if r.keep.on.Load() {
						r.keep.todo[t] = true
					}
				}
				r.mu.Unlock()
				if !ok {
					break // then level's: a resumed first pass's ranges
				}
				if !yield(t) {
					return
				}
			}
		}
		for _, t := range level {
			if !yield(t) {
				return
			}
		}
	}
}
