package reconcile

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// With Throttle.MaxQuery, a key compared by key tuples has its first level
// found as the run goes instead of by one scan of the larger side's keys
// (firstTuples), which on a big table is one long query: from the lowest
// key, a range ends at the key n rows further in key order and is cut into
// Segments buckets at every n/Segments-th row's key. One query of the side
// firstTuples would scan reads those n keys (in key order after the last
// range's end, boundaries as parameters) and returns the bucket bounds;
// both sides then sum the range as any first-level range. n is a sizer's
// width in rows, as integer keys' first pass sizes its ranges, fed the
// time of each range's sums (the slower side's). The last range is open
// above: the other side may hold keys past the larger side's last.
//
// Kept progress stays layout 2: the key space not handed out yet is a
// range of TupleTodo marked Rest, summed in pieces (Split) by a run that
// does not walk it, such as an earlier ficus or a run without MaxQuery,
// and walked again by a run with MaxQuery.

// tupleWalker hands out the first level's ranges from left to right. Its
// fields are guarded by run.mu.
type tupleWalker struct {
	from tupleSide
	s    *sizer
	// rest is the key space not handed out yet, (rest.kr.lo, end); it
	// stands in kept progress's pass for the ranges still to come. nil
	// when the key space is covered.
	rest *tupleTask
	// for Progress: the ranges handed out before and by the walker, the
	// rows they hold and the rows estimated.
	base, issued, rows, est int64
}

// newTupleWalk starts walking the key space above lo (nil: all of it).
// lest and nest are both sides' row estimates.
func (r *run) newTupleWalk(ls, ns tupleSide, lo canon.Key, lest, nest int64) *tupleWalker {
	// The new side unless legacy's estimate is clearly larger, as
	// firstTuples chooses.
	from := ns
	if lest > nest+nest/10 {
		from = ls
	}
	rest := &tupleTask{kr: keyRange{lo: lo}, lcn: lest, ncn: nest, split: true, rest: true}
	return &tupleWalker{from: from, rest: rest, est: max(lest, nest),
		s: newSizer(r.cfg.Throttle.MaxQuery, firstRangeRows, minRangeRows, uint64(max(r.rangeRows(), 1)))}
}

// startTupleWalk adds the walk to the pass begun with base ranges (after
// startTupleLevel).
func (r *run) startTupleWalk(w *tupleWalker, base int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w.base = int64(base)
	r.twalk = w
	r.rangesTotal = w.totalLocked()
	if r.keep.on.Load() {
		r.tkeep.todo[w.rest] = true
	}
}

// nextTuple returns the walk's next range, or nil when the key space is
// covered. It is called by one goroutine at a time.
func (r *run) nextTuple(ctx context.Context, w *tupleWalker) (*tupleTask, error) {
	r.mu.Lock()
	if w.rest == nil {
		r.mu.Unlock()
		return nil, nil
	}
	lo, width := w.rest.kr.lo, int64(w.s.width)
	r.mu.Unlock()
	segs := int64(r.cfg.Segments)
	every := max(width/segs, 1)
	if err := r.gate.wait(ctx); err != nil {
		return nil, err
	}
	keys, err := w.from.tupleNext(ctx, lo, every, every*segs)
	if err != nil {
		return nil, err
	}
	t := &tupleTask{kr: keyRange{lo: lo}, lcn: every * segs, ncn: every * segs, sized: true}
	if int64(len(keys)) == segs { // n rows: more may follow
		t.kr.hi = keys[segs-1]
		keys = keys[:segs-1]
	}
	t.bounds = r.inside(t.kr, keys)
	r.mu.Lock()
	defer r.mu.Unlock()
	w.issued++
	if t.kr.hi == nil {
		if r.keep.on.Load() {
			delete(r.tkeep.todo, w.rest)
		}
		w.rest = nil
	} else {
		// Taken and marked pending at once: kept progress never misses
		// a range between the rest and the pending.
		w.rest.kr.lo = t.kr.hi
		w.rows += every * segs
	}
	if r.keep.on.Load() {
		r.tkeep.todo[t] = true
	}
	r.rangesTotal = w.totalLocked()
	return t, nil
}

// observeTuple feeds the time of a walked range's sums to the sizer.
func (r *run) observeTuple(t *tupleTask, rows int64, took time.Duration) {
	if !t.sized || rows <= 0 || r.twalk == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.twalk.s.observe(uint64(rows), took)
}

// totalLocked estimates the pass's ranges: those handed out and those the
// rows left will take at the current width.
func (w *tupleWalker) totalLocked() int64 {
	n := w.base + w.issued
	if w.rest != nil {
		n += max(w.est-w.rows, 0)/int64(w.s.width) + 1
	}
	return n
}

// walksTuples reports whether the first level is walked: with
// Throttle.MaxQuery, when both sides read key ranges from an index. A key
// whose order is not an index's is read by scanning the table whatever
// the range's size (see tupleSums), so smaller ranges would only mean
// more scans: its first level is cut by one scan, as without MaxQuery.
func (r *run) walksTuples(ls, ns tupleSide) bool {
	return r.cfg.Throttle.MaxQuery > 0 && ls.tupleIndexed() && ns.tupleIndexed()
}

// resumeWalk takes a kept rest out of a resumed first level and returns
// the walk that continues it (see walksTuples); else the rest stays in
// the level, summed in pieces.
func (r *run) resumeWalk(ls, ns tupleSide, level []*tupleTask) ([]*tupleTask, *tupleWalker) {
	if !r.walksTuples(ls, ns) {
		return level, nil
	}
	for i, t := range level {
		if t.rest {
			return append(level[:i:i], level[i+1:]...), r.newTupleWalk(ls, ns, t.kr.lo, t.lcn, t.ncn)
		}
	}
	return level, nil
}

// nextSQL is the keys of every every-th row of the n rows after lo in key
// order: an index range scan of n entries where the key orders like an
// index.
func (tq *tupleQueries) nextSQL(lo canon.Key, every, n int64) (string, []any) {
	p := canon.NewParams(tq.e)
	cols := strings.Join(tq.key.Columns(), ", ")
	q := "SELECT " + strings.Join(tq.key.Texts(), ", ") + " FROM (SELECT " + cols +
		", ROW_NUMBER() OVER (ORDER BY " + tq.key.OrderBy() + ") AS rn FROM (SELECT " + cols + " FROM " + tq.from +
		tq.where(p, keyRange{lo: lo}) + tq.window + " ORDER BY " + tq.key.OrderBy() +
		fmt.Sprintf(" LIMIT %d) y) x WHERE MOD(rn, %d) = 0 ORDER BY rn", n, every)
	return q, p.Args
}

func (tq *tupleQueries) next(ctx context.Context, run scanner, lo canon.Key, every, n int64) ([]canon.Key, error) {
	query, args := tq.nextSQL(lo, max(every, 1), max(n, 1))
	out, err := tq.scanKeys(ctx, run, query, args)
	if err != nil {
		return nil, fmt.Errorf("next range of %s %s: %w", tq.from, keyRange{lo: lo}, err)
	}
	return out, nil
}

func (p *Postgres) tupleNext(ctx context.Context, lo canon.Key, every, n int64) ([]canon.Key, error) {
	return p.tq.next(ctx, pgScanner(p.cfg.Pool), lo, every, n)
}

func (m *MariaDB) tupleNext(ctx context.Context, lo canon.Key, every, n int64) ([]canon.Key, error) {
	return m.tq.next(ctx, m.scanner, lo, every, n)
}
