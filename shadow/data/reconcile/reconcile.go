// Package reconcile compares two tables as they are now, where they live:
// both databases checksum key ranges, and only ranges whose checksums
// differ are split again (in the manner of data-diff), down to ranges small
// enough to fetch and compare row by row. The two tables may be on
// different engines (MariaDB/MySQL and PostgreSQL): every value is first
// turned into the canonical text of package canon, inside the database.
//
// A key of one integer column on both sides is cut into integer ranges and
// buckets by arithmetic. Any other key (several columns; decimal, text,
// UUID, binary, date, timestamp) is compared by key tuples in canonical
// order, ranges cut at sampled keys (see tuple.go and canon.KeySQL).
package reconcile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// maxSegments bounds a range's buckets: one CASE level or UNION ALL part
// each, in one statement.
const maxSegments = 1024

// Config says what to compare and how finely.
type Config struct {
	// Legacy and New are the two tables. Their Table.Columns pair up by
	// position; only Legacy's Table.Rules are applied.
	Legacy, New Side
	// Segments is how many buckets a range is summed in (one scan), and so
	// how many sub-ranges a differing range is split into, 2 to 1024.
	// Default: 32.
	Segments int
	// LeafRows: a differing range with at most this many rows on each side
	// is fetched and compared row by row. Default: 2000.
	LeafRows int64
	// Parallel is how many ranges are summed at once (each on both sides
	// at the same time); the first level cuts the key space into this many
	// ranges. Default: 4.
	Parallel int
	// BucketRows is about how many rows a first-level bucket should hold
	// (by the databases' row estimates): a bigger table gets more
	// first-level ranges, so that a bucket's text stays small enough to
	// digest in memory. Default: 20,000.
	BucketRows int64
	// SampleRows: a key compared by tuples and checksummed by row sums
	// (Stats.Method) on a table estimated at more rows than this has its
	// first level cut at the quantiles of a random sample of keys, not at
	// every n-th key of a scan of the whole key. Default: 100,000.
	SampleRows int64
	// Name is the comparison's name, for Judge.
	Name string
	// Judge, when set, has the last word on keys whose canonical values
	// differ (the entry's comparator plugin).
	Judge canon.Judge
	// Progress, when set, is called every ProgressEvery (default 2s) while
	// the comparison runs (a short run never calls it): in PhaseEstimating
	// until the first pass starts, then in PhaseComparing.
	Progress      func(Progress)
	ProgressEvery time.Duration
	// Throttle spares busy databases: range sizing by query time, waits
	// while a server is over a limit or a pause file exists, a rate limit.
	// The zero value throttles nothing.
	Throttle Throttle
	// Log, when set, is told why the run pauses and when it resumes.
	Log *slog.Logger
	// Checkpoint, when set, is called after every finished range with the
	// progress to keep (see Saved and Checkpoint), one call at a time, in
	// the order ranges finish. When it fails, the run goes on without
	// saving (logged): the last progress kept stays valid to continue.
	Checkpoint func(context.Context, Checkpoint) error
	// Resume, when set, is the kept progress of an earlier run of the same
	// comparison, continued instead of starting over: its finished ranges
	// are not checksummed again and its differences are part of the
	// result. A Saved of another comparison is ErrOtherComparison.
	Resume *Saved
}

// Run compares the two tables.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Legacy == nil || cfg.New == nil {
		return nil, errors.New("reconcile: need both sides")
	}
	if cfg.Segments == 0 {
		cfg.Segments = 32
	}
	if cfg.Segments < 2 || cfg.Segments > maxSegments {
		return nil, fmt.Errorf("reconcile: segments must be 2..%d, got %d", maxSegments, cfg.Segments)
	}
	if cfg.LeafRows <= 0 {
		cfg.LeafRows = 2000
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 4
	}
	if cfg.BucketRows <= 0 {
		cfg.BucketRows = 20_000
	}
	if cfg.SampleRows <= 0 {
		cfg.SampleRows = 100_000
	}
	lt, nt := cfg.Legacy.Table(), cfg.New.Table()
	if len(lt.Columns) != len(nt.Columns) {
		return nil, fmt.Errorf("reconcile: %d legacy columns against %d new columns", len(lt.Columns), len(nt.Columns))
	}
	start := time.Now()
	r := &run{cfg: cfg, legacy: timed{side: cfg.Legacy}, new: timed{side: cfg.New}}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r.log = log.With("component", "reconcile", "compare", cfg.Name)
	r.keep = keeper{fp: Fingerprint(cfg), started: start, todo: map[task]bool{}}
	r.keep.on.Store(cfg.Checkpoint != nil)
	var err error
	r.gate, err = newGate(cfg.Throttle, []gateSide{
		{name: "legacy", load: loadReader(cfg.Legacy), inflight: &r.legacy.inflight},
		{name: "new", load: loadReader(cfg.New), inflight: &r.new.inflight},
	}, log.With("component", "reconcile", "compare", cfg.Name))
	if err != nil {
		return nil, err
	}
	if err := r.prepare(ctx); err != nil {
		return nil, err
	}
	if cfg.Progress != nil {
		every := cfg.ProgressEvery
		if every <= 0 {
			every = 2 * time.Second
		}
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					cfg.Progress(r.progress(start))
				}
			}
		}()
		defer func() {
			close(stop)
			<-done
		}()
	}
	var res *Result
	if r.keyKinds != nil {
		res, err = r.compareTuple(ctx)
	} else {
		res, err = r.compare(ctx)
	}
	if err != nil {
		return nil, err
	}
	res.Stats.LegacyDBTime = time.Duration(r.legacy.dbTime.Load())
	res.Stats.NewDBTime = time.Duration(r.new.dbTime.Load())
	res.Stats.Checksums = r.checksums.Load()
	res.Stats.Fetched = r.fetched.Load()
	res.Stats.RowSums = r.rowSums.Load()
	res.Stats.SampledKeys = r.sampledKeys.Load()
	if res.Stats.Method == "" {
		res.Stats.Method = MethodDigest
	}
	_, res.Stats.Paused, res.Stats.RateWait, res.Stats.Pauses = r.gate.status()
	res.Stats.Wall = time.Since(start)
	res.Stats.Resumed, res.Stats.EarlierChecksums = cfg.Resume != nil, r.resumedChecks
	return res, nil
}

// Kinds returns how each column pair is compared, given the data types
// Describe reported: the more specific kind of the two, and decimal for a
// scaled column.
func Kinds(legacyTypes, newTypes []string, rules []canon.Rule) []canon.Kind {
	kinds := make([]canon.Kind, len(legacyTypes))
	for i := range legacyTypes {
		k := canon.Unify(canon.KindOf(canon.MySQL, legacyTypes[i]), canon.KindOf(canon.Postgres, newTypes[i]))
		if rules != nil {
			k = rules[i].Kind(k)
		}
		kinds[i] = k
	}
	return kinds
}

// timed wraps a side, adds up its query time and counts its queries
// running: defer t.add(t.begin()).
type timed struct {
	side     Side
	dbTime   atomic.Int64
	inflight atomic.Int64
}

func (t *timed) begin() time.Time {
	t.inflight.Add(1)
	return time.Now()
}

func (t *timed) add(since time.Time) {
	t.dbTime.Add(int64(time.Since(since)))
	t.inflight.Add(-1)
}

type run struct {
	cfg  Config
	gate *gate
	// keyKinds are the key's kinds when it is compared by tuples (see
	// tuple.go), nil for integer ranges.
	keyKinds []canon.Kind
	log      *slog.Logger
	// keep is the progress for Config.Checkpoint; saveMu orders its saves.
	keep   keeper
	tkeep  tupleKeep // keep's ranges for a key compared by tuples
	saveMu sync.Mutex
	// resumedChecks and resumedRows are the earlier runs' range scans and
	// legacy rows (Config.Resume).
	resumedChecks, resumedRows int64
	legacy                     timed
	new                        timed
	checksums                  atomic.Int64
	fetched                    atomic.Int64
	// for Progress: counted by the workers of a pass
	rangesDone, rowsSummed atomic.Int64
	// rowSums counts ranges summed row by row because a bucket was too
	// large to digest.
	rowSums atomic.Int64
	// sampledKeys counts the keys drawn to cut the first level.
	sampledKeys atomic.Int64

	mu    sync.Mutex
	diffs []Difference
	rows  [2]int64
	// for Progress, set by startPass: pass 0 is the estimating phase.
	pass                  int
	rangesTotal, estimate int64
	walk                  *walker      // the first pass's ranges, with Throttle.MaxQuery
	twalk                 *tupleWalker // walk's for key tuples, set before the first level's workers start
	passStart             time.Time
}

func (r *run) prepare(ctx context.Context) error {
	var lt, nt []string
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { lt, err = r.cfg.Legacy.Describe(gctx); return err })
	g.Go(func() (err error) { nt, err = r.cfg.New.Describe(gctx); return err })
	if err := g.Wait(); err != nil {
		return err
	}
	kinds := Kinds(lt, nt, r.cfg.Legacy.Table().Rules)
	if err := r.cfg.Legacy.Prepare(kinds); err != nil {
		return err
	}
	if err := r.cfg.New.Prepare(kinds); err != nil {
		return err
	}
	var err error
	if r.keyKinds, err = KeyKinds(r.cfg.Legacy, r.cfg.New); err != nil || r.keyKinds == nil {
		return err
	}
	for _, s := range []Side{r.cfg.Legacy, r.cfg.New} {
		ts, ok := s.(tupleSide)
		if !ok {
			return errors.New("reconcile: these sides cannot compare a key tuple")
		}
		if err := ts.prepareTuple(r.keyKinds); err != nil {
			return err
		}
	}
	return r.indexKeys(ctx)
}

// span is an inclusive key range.
type span struct{ lo, hi int64 }

func (r *run) compare(ctx context.Context) (*Result, error) {
	level, top, next, empty, err := r.firstLevel(ctx)
	if err != nil || empty {
		return &Result{}, err
	}
	resumed := r.cfg.Resume != nil
	// Level by level. Each task is a range whose rows both sides sum per
	// bucket in one scan; differing buckets are fetched (small) or become
	// the next level's tasks. The first level splits the key space into
	// at least Parallel ranges so that both databases work on several at
	// once (see firstPass).
	for len(level) > 0 || top {
		r.startPass(len(level))
		r.startLevel(level, resumed)
		resumed = false
		var nextMu sync.Mutex
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(r.cfg.Parallel)
		for t := range r.tasks(level, top) {
			if gctx.Err() != nil {
				break // a range failed: the rest would only fail too
			}
			g.Go(func() error {
				sub, err := r.task(gctx, t, top)
				if err != nil {
					return err
				}
				nextMu.Lock()
				next = append(next, sub...)
				nextMu.Unlock()
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		level, next, top = next, nil, false
	}
	res := &Result{Differences: sortDiffs(r.diffs)}
	res.Stats.LegacyRows, res.Stats.NewRows = r.rows[0], r.rows[1]
	return res, nil
}

// task is a range summed per bucket of step keys.
type task struct {
	s    span
	step int64
}

// bucket is the key range of bucket b of t.
func (t task) bucket(b int64) span {
	lo := int64(uint64(t.s.lo) + uint64(b)*uint64(t.step))
	hi := int64(uint64(lo) + uint64(t.step) - 1)
	if hi < lo || hi > t.s.hi { // overflow or past the range's end
		hi = t.s.hi
	}
	return span{lo, hi}
}

// stepFor is the bucket width that cuts s into at most n buckets.
func stepFor(s span, n int) int64 {
	width := uint64(s.hi-s.lo) + 1
	if width == 0 { // the whole int64 range
		width = ^uint64(0)
	}
	step := width / uint64(n)
	if width%uint64(n) != 0 {
		step++
	}
	return int64(max(min(step, uint64(1)<<62), 1))
}

// differing lists, in order, the buckets whose sums differ (including
// buckets present on one side only).
func differing(ls, ns map[int64]Sum) []int64 {
	var out []int64
	for b, s := range ls {
		if ns[b] != s {
			out = append(out, b)
		}
	}
	for b := range ns {
		if _, ok := ls[b]; !ok {
			out = append(out, b)
		}
	}
	slices.Sort(out)
	return out
}

// sums sums t on both sides at once: digests first, and row by row when
// either side's bucket text is too large to digest. took is how long the
// slower side's query took.
func (r *run) sums(ctx context.Context, t task) (ls, ns map[int64]Sum, checks int64, took time.Duration, err error) {
	ls, ns, took, err = r.sumsWith(ctx, t, Digest)
	checks = 1
	if errors.Is(err, ErrTooLarge) {
		r.rowSums.Add(1)
		ls, ns, took, err = r.sumsWith(ctx, t, RowSum)
		checks++
	}
	return ls, ns, checks, took, err
}

func (r *run) sumsWith(ctx context.Context, t task, m Method) (ls, ns map[int64]Sum, took time.Duration, err error) {
	r.checksums.Add(1)
	// Not an errgroup context: one side's ErrTooLarge must not cancel the
	// other's query (a cancelled PostgreSQL query costs its connection).
	var g errgroup.Group
	var lt, nt time.Duration
	g.Go(func() (err error) {
		start := r.legacy.begin()
		defer r.legacy.add(start)
		ls, err = r.cfg.Legacy.Checksums(ctx, t.s.lo, t.s.hi, t.step, m)
		lt = time.Since(start)
		return err
	})
	g.Go(func() (err error) {
		start := r.new.begin()
		defer r.new.add(start)
		ns, err = r.cfg.New.Checksums(ctx, t.s.lo, t.s.hi, t.step, m)
		nt = time.Since(start)
		return err
	})
	err = g.Wait()
	return ls, ns, max(lt, nt), err
}

func rowCount(sums map[int64]Sum) int64 {
	var n int64
	for _, s := range sums {
		n += s.Count
	}
	return n
}

// leaf fetches s from both sides and returns its differences.
func (r *run) leaf(ctx context.Context, s span) ([]Difference, error) {
	var lrows, nrows []Row
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		defer r.legacy.add(r.legacy.begin())
		lrows, err = r.cfg.Legacy.Rows(gctx, s.lo, s.hi)
		return err
	})
	g.Go(func() (err error) {
		defer r.new.add(r.new.begin())
		nrows, err = r.cfg.New.Rows(gctx, s.lo, s.hi)
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	r.fetched.Add(int64(len(lrows) + len(nrows)))
	r.gate.charge(int64(max(len(lrows), len(nrows))))
	lrows, nrows = dropRecent(lrows, nrows)
	d := DiffRows(r.cfg.Legacy.Table().Columns, r.cfg.New.Table().Columns, lrows, nrows)
	if r.cfg.Judge != nil {
		var err error
		if d, err = r.judge(ctx, d, lrows, nrows); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// split divides s into at most n ranges of nearly equal key width.
func split(s span, n int) []span {
	// Widths are computed in uint64: hi-lo may not fit an int64.
	width := uint64(s.hi-s.lo) + 1
	if width == 0 { // the whole int64 range
		width = ^uint64(0)
	}
	step := width / uint64(n)
	if width%uint64(n) != 0 {
		step++
	}
	if step == 0 {
		step = 1
	}
	var out []span
	lo := s.lo
	for {
		hi := int64(uint64(lo) + step - 1)
		if hi < lo || hi >= s.hi { // overflow or the end
			out = append(out, span{lo, s.hi})
			return out
		}
		out = append(out, span{lo, hi})
		lo = hi + 1
	}
}

func sortDiffs(d []Difference) []Difference {
	slices.SortFunc(d, func(a, b Difference) int { return cmp.Compare(a.Key, b.Key) })
	return d
}
