package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// A key that is not a single integer column on both sides (several
// columns; decimal, text, UUID, binary, date or timestamp) is compared by
// key tuples: a range is (lo, hi] in canonical key order
// (canon.CompareKeys, which both engines' SQL follows, see canon.KeySQL).
// A range is cut at the keys of every n-th row of the side holding more of
// its rows (one window-function scan), both sides sum the row hashes of
// every piece in one scan, and differing pieces are cut again, down to
// pieces small enough to fetch. Every boundary is a key tuple sent to both
// databases as parameters, so both split the same way.

// KeyKinds decides, after both sides' Describe, how the key is compared:
// nil for a single integer column on both sides (integer ranges), else
// each key column's unified kind (key tuples). Continuous mode keys its
// state the same way (continuous.Config.KeyKinds).
func KeyKinds(legacy, new Side) ([]canon.Kind, error) {
	lt, nt := legacy.KeyTypes(), new.KeyTypes()
	if len(lt) != len(nt) {
		return nil, fmt.Errorf("reconcile: %d legacy key columns against %d new key columns", len(lt), len(nt))
	}
	if len(lt) == 1 && canon.KindOf(canon.MySQL, lt[0]) == canon.KindInteger && canon.KindOf(canon.Postgres, nt[0]) == canon.KindInteger {
		return nil, nil
	}
	kinds := make([]canon.Kind, len(lt))
	for i := range lt {
		kinds[i] = canon.Unify(canon.KindOf(canon.MySQL, lt[i]), canon.KindOf(canon.Postgres, nt[i]))
		if err := canon.KeyKind(kinds[i]); err != nil {
			return nil, fmt.Errorf("reconcile: key column %d: %w", i+1, err)
		}
	}
	return kinds, nil
}

// tupleTask is a range to sum, with both sides' row counts (from the sums
// that found it different, or estimates). split: cut it first (a
// differing range); the first level's ranges are summed whole.
type tupleTask struct {
	kr       keyRange
	lcn, ncn int64
	split    bool
	// bounds, in the first level, cut kr into its buckets already.
	bounds []canon.Key
	// sized: handed out by a tupleWalker, its sums' time sizes the next
	// ranges. rest: the walker's key space not handed out yet.
	sized, rest bool
}

func (r *run) compareTuple(ctx context.Context) (*Result, error) {
	ls, lok := r.cfg.Legacy.(tupleSide)
	ns, nok := r.cfg.New.(tupleSide)
	if !lok || !nok {
		return nil, errors.New("reconcile: these sides cannot compare a key tuple")
	}
	method := MethodDigest
	if !digests(ls, ns) {
		method = MethodRowSums
		r.log.Info("buckets checksummed by row sums, not digests", "why", rowSumsWhy(ls, ns))
	}
	var level []*tupleTask
	var walk *tupleWalker
	resumed := r.cfg.Resume != nil
	if resumed {
		r.mu.Lock() // the progress ticker reads what resumeTuple sets
		var top bool
		var err error
		level, top, err = r.resumeTuple(r.cfg.Resume)
		r.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if top {
			level, walk = r.resumeWalk(ls, ns, level)
		}
	} else {
		var lest, nest int64
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() (err error) { lest, err = r.cfg.Legacy.Estimate(gctx); return err })
		g.Go(func() (err error) { nest, err = r.cfg.New.Estimate(gctx); return err })
		if err := g.Wait(); err != nil {
			return nil, err
		}
		r.mu.Lock()
		r.estimate, r.keep.estimate = lest, lest
		r.mu.Unlock()
		if r.walksTuples(ls, ns) {
			walk = r.newTupleWalk(ls, ns, nil, lest, nest)
		} else {
			var err error
			if level, err = r.firstTuples(ctx, ls, ns, lest, nest); err != nil {
				return nil, err
			}
		}
	}
	// A resumed pass's next ranges found before it stopped.
	var carried []*tupleTask
	if resumed {
		carried = slices.Clone(r.tkeep.next)
	}
	for len(level) > 0 || walk != nil {
		r.startPass(len(level))
		r.startTupleLevel(level, resumed)
		if walk != nil {
			r.startTupleWalk(walk, len(level))
		}
		resumed = false
		next := carried
		carried = nil
		var nextMu sync.Mutex
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(r.cfg.Parallel)
		do := func(t *tupleTask) {
			g.Go(func() error {
				sub, err := r.tupleTask(gctx, ls, ns, t)
				if err != nil {
					return err
				}
				nextMu.Lock()
				next = append(next, sub...)
				nextMu.Unlock()
				return nil
			})
		}
		for _, t := range level {
			if gctx.Err() != nil {
				break
			}
			do(t)
		}
		// The walk's ranges, each found while the ranges before it are
		// summed (at most Parallel at once: Go waits for a free worker).
		var walkErr error
		for walk != nil && gctx.Err() == nil {
			t, err := r.nextTuple(gctx, walk)
			if err != nil {
				walkErr = err
				break
			}
			if t == nil {
				break
			}
			do(t)
		}
		walk = nil
		if err := g.Wait(); err != nil {
			return nil, err
		}
		if walkErr != nil {
			return nil, walkErr
		}
		level = next
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	slices.SortFunc(r.diffs, func(a, b Difference) int { return canon.CompareKeys(r.keyKinds, a.Tuple, b.Tuple) })
	res := &Result{Differences: r.diffs, KeyKinds: r.keyKinds, NewKeyTypes: r.cfg.New.KeyTypes()}
	res.Stats.Method = method
	res.Stats.LegacyRows, res.Stats.NewRows = r.rows[0], r.rows[1]
	return res, nil
}

// firstTuples cuts the whole key space into the first level's ranges,
// each cut into Segments buckets, as integer keys' first level is: enough
// ranges for Parallel and for buckets of about BucketRows rows, at the keys
// of the side the databases estimate larger (one scan of its keys). An
// unknown estimate (0) gives one range, which the sums then measure.
func (r *run) firstTuples(ctx context.Context, ls, ns tupleSide, lest, nest int64) ([]*tupleTask, error) {
	est := max(lest, nest)
	segs := int64(r.cfg.Segments)
	ranges := max(int64(r.cfg.Parallel), est/(segs*r.cfg.BucketRows)+1)
	if leaf := est * 4 / (ranges * r.cfg.LeafRows * 3); leaf > segs && leaf <= min(segs*segs, maxFirstBuckets) {
		// A bucket costs about the same however many there are (a digest
		// per index range scan, or a row sum in one hash aggregate or
		// clustered range scan), so the first level does the second
		// level's cuts at once where they end in buckets small enough to
		// fetch (3/4 of LeafRows, estimates being estimates): a differing
		// bucket is compared row by row at once, not read a second time to
		// be cut — on a heap that does not follow the key, that second
		// read visits a page per row.
		segs = leaf
	}
	if est <= r.cfg.LeafRows {
		return []*tupleTask{{lcn: lest, ncn: nest}}, nil
	}
	// The new side unless legacy's estimate is clearly larger: equal
	// tables' estimates differ by the engines' sampling only.
	from := ns
	if lest > nest+nest/10 {
		from = ls
	}
	other := ls
	if from == ls {
		other = ns
	}
	buckets := ranges * segs
	var bounds []canon.Key
	sampled := false
	var err error
	if !digests(ls, ns) && est > r.cfg.SampleRows {
		if bounds, sampled, err = r.sampledBounds(ctx, est, buckets, from, other); err != nil {
			return nil, err
		}
	}
	if !sampled {
		if bounds, err = from.tupleSplit(ctx, keyRange{}, (est+buckets-1)/buckets); err != nil {
			return nil, err
		}
	}
	bounds = r.inside(keyRange{}, bounds)
	// Every Segments-th bound ends a range; those between cut it.
	var out []*tupleTask
	var lo canon.Key
	var inner []canon.Key
	for i, b := range bounds {
		if int64(i+1)%segs != 0 {
			inner = append(inner, b)
			continue
		}
		out = append(out, &tupleTask{kr: keyRange{lo: lo, hi: b}, lcn: lest / ranges, ncn: nest / ranges, bounds: inner})
		lo, inner = b, nil
	}
	out = append(out, &tupleTask{kr: keyRange{lo: lo}, lcn: lest / ranges, ncn: nest / ranges, bounds: inner})
	return out, nil
}

// tupleTask sums t on both sides (cut into Segments pieces first when
// t.split), fetches its small differing pieces and returns the others.
func (r *run) tupleTask(ctx context.Context, ls, ns tupleSide, t *tupleTask) ([]*tupleTask, error) {
	if err := r.gate.wait(ctx); err != nil {
		return nil, err
	}
	bounds := t.bounds
	if n := max(t.lcn, t.ncn); t.split && n > 0 {
		from := ls
		if t.ncn > t.lcn {
			from = ns
		}
		pieces := int64(r.cfg.Segments)
		var err error
		if bounds, err = from.tupleSplit(ctx, t.kr, (n+pieces-1)/pieces); err != nil {
			return nil, err
		}
		bounds = r.inside(t.kr, bounds)
	}
	start := time.Now()
	lsum, nsum, checks, err := r.tupleSums(ctx, ls, ns, t.kr, bounds)
	if err != nil {
		return nil, err
	}
	lrows, nrows := rowCount(lsum), rowCount(nsum)
	r.observeTuple(t, max(lrows, nrows), time.Since(start))
	r.gate.charge(max(lrows, nrows))
	r.rangesDone.Add(1)
	r.rowsSummed.Add(lrows)
	var sub []*tupleTask
	var found []Difference
	for _, b := range differing(lsum, nsum) {
		kr := keyRange{lo: t.kr.lo, hi: t.kr.hi}
		if b > 0 {
			kr.lo = bounds[b-1]
		}
		if int(b) < len(bounds) {
			kr.hi = bounds[b]
		}
		lc, nc := lsum[b].Count, nsum[b].Count
		// A range that could not be cut (one key, repeated) is compared
		// row by row whatever its size.
		if max(lc, nc) <= r.cfg.LeafRows || (t.split && len(bounds) == 0) {
			if err := r.gate.wait(ctx); err != nil {
				return nil, err
			}
			d, err := r.tupleLeaf(ctx, ls, ns, kr)
			if err != nil {
				return nil, err
			}
			found = append(found, d...)
			continue
		}
		sub = append(sub, &tupleTask{kr: kr, lcn: lc, ncn: nc, split: true})
	}
	r.finishedTuple(ctx, t, checks, sub, found, lrows, nrows)
	return sub, nil
}

// tupleSums sums the buckets of kr on both sides at once: digests when
// both sides read key ranges from an index in key order at the cost of
// reading their rows (one range scan per bucket), else row hashes, which
// need no order: in one scan of kr (a key whose order is not an index's,
// such as text in byte order, would scan the table once per bucket; a
// heap that does not follow the key would be read at random), or a range
// scan per bucket of a clustered index. Row hashes too when a bucket's
// text is too large to digest.
func (r *run) tupleSums(ctx context.Context, ls, ns tupleSide, kr keyRange, bounds []canon.Key) (lsum, nsum map[int64]Sum, checks int64, err error) {
	both := func(l, n func(ctx context.Context, kr keyRange, bounds []canon.Key) (map[int64]Sum, error)) error {
		r.checksums.Add(1)
		checks++
		// Not an errgroup context: one side's ErrTooLarge must not cancel
		// the other's query (see sumsWith).
		var g errgroup.Group
		g.Go(func() (err error) {
			defer r.legacy.add(r.legacy.begin())
			lsum, err = l(ctx, kr, bounds)
			return err
		})
		g.Go(func() (err error) {
			defer r.new.add(r.new.begin())
			nsum, err = n(ctx, kr, bounds)
			return err
		})
		return g.Wait()
	}
	if digests(ls, ns) {
		err = both(ls.tupleDigests, ns.tupleDigests)
		if !errors.Is(err, ErrTooLarge) {
			return lsum, nsum, checks, err
		}
		r.rowSums.Add(1)
	}
	err = both(ls.tupleSums, ns.tupleSums)
	return lsum, nsum, checks, err
}

// maxFirstBuckets bounds a first-level range's buckets when they are cut
// small enough to fetch: MariaDB opens the table once per UNION ALL part.
const maxFirstBuckets = 512

// digests reports whether both sides digest buckets (see tupleSums).
func digests(ls, ns tupleSide) bool {
	return ls.tupleIndexed() && ns.tupleIndexed() && ls.tupleOrdered() && ns.tupleOrdered()
}

// rowSumsWhy says why digests do not serve (see digests).
func rowSumsWhy(ls, ns tupleSide) string {
	var why []string
	for _, s := range []struct {
		name string
		side tupleSide
	}{{"legacy", ls}, {"new", ns}} {
		switch {
		case !s.side.tupleIndexed():
			why = append(why, s.name+": no index reads the key in key order")
		case !s.side.tupleOrdered():
			why = append(why, s.name+": the rows do not lie in key order, so a range read in key order would visit a page per row")
		}
	}
	return strings.Join(why, "; ")
}

func (r *run) tupleLeaf(ctx context.Context, ls, ns tupleSide, kr keyRange) ([]Difference, error) {
	var lrows, nrows []Row
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		defer r.legacy.add(r.legacy.begin())
		lrows, err = ls.tupleRows(gctx, kr)
		return err
	})
	g.Go(func() (err error) {
		defer r.new.add(r.new.begin())
		nrows, err = ns.tupleRows(gctx, kr)
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	r.fetched.Add(int64(len(lrows) + len(nrows)))
	r.gate.charge(int64(max(len(lrows), len(nrows))))
	// The databases sorted by the same order; sorting again in Go makes
	// the merge independent of it.
	order := func(a, b Row) int { return canon.CompareKeys(r.keyKinds, a.Tuple, b.Tuple) }
	slices.SortStableFunc(lrows, order)
	slices.SortStableFunc(nrows, order)
	lrows, nrows = dropRecent(lrows, nrows)
	d := diffRows(r.cfg.Legacy.Table().Columns, r.cfg.New.Table().Columns, lrows, nrows, order)
	if r.cfg.Judge != nil {
		var err error
		if d, err = r.judge(ctx, d, lrows, nrows); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// inside keeps the increasing bounds strictly inside kr: a repeated key (a
// key that is not unique) or the range's own end would only make empty
// pieces.
func (r *run) inside(kr keyRange, bounds []canon.Key) []canon.Key {
	out := bounds[:0]
	for _, b := range bounds {
		if kr.lo != nil && canon.CompareKeys(r.keyKinds, b, kr.lo) <= 0 {
			continue
		}
		if kr.hi != nil && canon.CompareKeys(r.keyKinds, b, kr.hi) >= 0 {
			continue
		}
		if len(out) > 0 && canon.CompareKeys(r.keyKinds, b, out[len(out)-1]) <= 0 {
			continue
		}
		out = append(out, b)
	}
	return out
}
