package reconcile

import (
	"context"
	"slices"

	"golang.org/x/sync/errgroup"
)

// firstLevel reads the key space and returns the first pass's ranges (none
// with a walker, r.walk) and whether it is the first pass, or, continuing
// kept progress, the ranges of the pass it stopped in and the next pass's
// found so far. empty: both tables are empty.
func (r *run) firstLevel(ctx context.Context) (level []task, top bool, next []task, empty bool, err error) {
	if s := r.cfg.Resume; s != nil {
		r.mu.Lock() // the progress ticker reads what resumeFrom sets
		level, rest, err := r.resumeFrom(s)
		r.estimate = s.Estimate
		r.mu.Unlock()
		if err != nil {
			return nil, false, nil, false, err
		}
		top = s.Pass == 1
		if rest != nil {
			// The key space not handed out yet, cut as a first pass cuts
			// it (with a walker when MaxQuery is set); its rows are about
			// those the finished ranges did not count.
			level = append(level, r.firstPass(*rest, max(s.Estimate-s.Rows[0], 1))...)
		} else if len(level) == 0 {
			// Kept at the end of a pass: the next one starts.
			r.mu.Lock()
			level, r.keep.next = r.keep.next, nil
			r.pass++
			r.mu.Unlock()
			top = false
		}
		return level, top, slices.Clone(r.keep.next), false, nil
	}
	var lb, nb span
	var lok, nok bool
	var lest, nest int64
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { lb.lo, lb.hi, lok, err = r.cfg.Legacy.Bounds(gctx); return err })
	g.Go(func() (err error) { nb.lo, nb.hi, nok, err = r.cfg.New.Bounds(gctx); return err })
	g.Go(func() (err error) { lest, err = r.cfg.Legacy.Estimate(gctx); return err })
	g.Go(func() (err error) { nest, err = r.cfg.New.Estimate(gctx); return err })
	if err := g.Wait(); err != nil {
		return nil, false, nil, false, err
	}
	var all span
	switch {
	case !lok && !nok:
		return nil, true, nil, true, nil
	case !lok:
		all = nb
	case !nok:
		all = lb
	default:
		all = span{min(lb.lo, nb.lo), max(lb.hi, nb.hi)}
	}
	level = r.firstPass(all, max(lest, nest))
	r.mu.Lock()
	r.estimate = lest
	r.keep.estimate = lest
	r.mu.Unlock()
	return level, true, nil, false, nil
}

// task sums t on both sides, compares its small differing buckets row by
// row and returns the others, the next pass's ranges.
func (r *run) task(ctx context.Context, t task, top bool) ([]task, error) {
	if err := r.gate.wait(ctx); err != nil {
		return nil, err
	}
	ls, ns, checks, took, err := r.sums(ctx, t)
	if err != nil {
		return nil, err
	}
	if top && r.walk != nil {
		r.walk.observe(t.s, took)
	}
	r.gate.charge(max(rowCount(ls), rowCount(ns)))
	r.rangesDone.Add(1)
	r.rowsSummed.Add(rowCount(ls))
	var leaves []span
	var sub []task
	for _, b := range differing(ls, ns) {
		s := t.bucket(b)
		if max(ls[b].Count, ns[b].Count) <= r.cfg.LeafRows || s.lo == s.hi {
			leaves = append(leaves, s)
		} else {
			sub = append(sub, task{s, stepFor(s, r.cfg.Segments)})
		}
	}
	var found []Difference
	for _, s := range leaves {
		if err := r.gate.wait(ctx); err != nil {
			return nil, err
		}
		d, err := r.leaf(ctx, s)
		if err != nil {
			return nil, err
		}
		found = append(found, d...)
	}
	r.finished(ctx, t, checks, sub, found, rowCount(ls), rowCount(ns))
	return sub, nil
}
