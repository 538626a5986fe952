package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// keyRange is the keys k with lo < k <= hi in canonical key order; a nil
// bound is open.
type keyRange struct{ lo, hi canon.Key }

func (kr keyRange) String() string {
	lo, hi := "(start", "end)"
	if kr.lo != nil {
		lo = "(" + kr.lo.JSON()
	}
	if kr.hi != nil {
		hi = kr.hi.JSON() + "]"
	}
	return lo + ", " + hi
}

// tupleSide is what a side answers for a key that is not a single integer
// column. Every range and bucket boundary is a key tuple passed as
// parameters; see canon.KeySQL for how both engines order it.
type tupleSide interface {
	// prepareTuple fixes the key's kinds (both sides' unified kinds); it
	// is called after Prepare.
	prepareTuple(kinds []canon.Kind) error
	// tupleSums counts and sums the rows of kr per bucket: bucket i < len(bounds)
	// holds the keys up to bounds[i] (and above bounds[i-1]), bucket
	// len(bounds) the rest. Empty buckets are absent.
	tupleSums(ctx context.Context, kr keyRange, bounds []canon.Key) (map[int64]Sum, error)
	// tupleSplit returns the key of every every-th row of kr in key order.
	tupleSplit(ctx context.Context, kr keyRange, every int64) ([]canon.Key, error)
	// tupleNext returns the key of every every-th row of the n rows
	// after lo (nil: from the start) in key order (see tupleWalker).
	tupleNext(ctx context.Context, lo canon.Key, every, n int64) ([]canon.Key, error)
	// tupleRows returns the rows of kr in key order, values canonical.
	tupleRows(ctx context.Context, kr keyRange) ([]Row, error)
	// tupleIndex learns from the database, after prepareTuple, whether
	// key ranges are read from an index in key order (see keyindex.go);
	// bounded: the run needs it (Throttle.MaxQuery). It returns why not,
	// and what would fix it, or nil.
	tupleIndex(ctx context.Context, bounded bool) (*keyAdvice, error)
	// tupleIndexed reports whether key ranges are read from an index
	// (canon.KeySQL.Indexed, or as tupleIndex found): then tupleDigests
	// serves.
	tupleIndexed() bool
	// tupleOrdered reports whether reading a key range in key order
	// costs about what reading its rows costs: a clustered index
	// (InnoDB's primary key), or a heap that follows the key. Where it
	// does not (a random UUID key over a PostgreSQL heap in insertion
	// order), an ordered digest reads the heap at random or sorts, and
	// row sums, which need no order, are cheaper on both sides.
	tupleOrdered() bool
	// tupleDigests is tupleSums by the Digest method: one aggregate per
	// bucket (a range scan of the key each), an MD5 over the bucket's row
	// texts in key order; ErrTooLarge when a bucket's text does not fit.
	tupleDigests(ctx context.Context, kr keyRange, bounds []canon.Key) (map[int64]Sum, error)
}

// tupleQueries is the key-tuple SQL of one side.
type tupleQueries struct {
	e       canon.Engine
	key     *canon.KeySQL
	from    string
	rowText string // row text expression
	rowHash string // per-row hash expression
	window  string // " AND (…)" of checksums, or ""
	q       *queries
	// ordered: MariaDB's primary key starts with the key columns and
	// orders them as KeySQL does, so a range scan of it is in key order
	// and digests need not sort (see MariaDB.ordered).
	ordered bool
	// heapOrdered: PostgreSQL's heap follows the key's first column
	// (pg_stats correlation, see Postgres.correlated).
	heapOrdered bool
}

func (t Table) prepareTuple(e canon.Engine, q *queries, keys []canon.Column, kinds []canon.Kind) (*tupleQueries, error) {
	names := t.KeyNames()
	if len(keys) != len(names) || len(kinds) != len(names) {
		return nil, fmt.Errorf("table %s: %d key kinds for %d key columns", t.Name, len(kinds), len(names))
	}
	k, err := canon.NewKeySQL(e, keyColumns(names, keys, kinds))
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", t.Name, err)
	}
	rowText := canon.RowTextExprKey(k.HashTexts(), q.hashed, q.nullable)
	return &tupleQueries{e: e, key: k, from: t.quotedName(e), rowText: rowText, rowHash: canon.RowHashExpr(e, rowText), window: q.window, q: q}, nil
}

// where is the WHERE clause of kr (parameters into p).
func (tq *tupleQueries) where(p *canon.Params, kr keyRange) string {
	w := " WHERE " + tq.key.NotNull()
	if kr.lo != nil {
		w += " AND " + tq.key.Compare(p, ">", kr.lo)
	}
	if kr.hi != nil {
		w += " AND " + tq.key.Compare(p, "<=", kr.hi)
	}
	return w
}

func (tq *tupleQueries) sumsSQL(kr keyRange, bounds []canon.Key) (string, []any) {
	p := canon.NewParams(tq.e)
	if tq.clustered() {
		return tq.perBucketSQL(p, kr, bounds, func(where string) string {
			// A range scan of the clustered index per bucket: no
			// temporary table, and each row compared with no bound.
			return "COUNT(*) AS c, CAST(COALESCE(SUM(" + tq.rowHash + "), 0) AS CHAR) AS h FROM " + tq.from + " FORCE INDEX (PRIMARY)" + where
		}), p.Args
	}
	bucket := tq.bucketExpr(p, bounds, 0, len(bounds))
	sum := "COALESCE(SUM(" + tq.rowHash + "), 0)::text"
	if tq.e == canon.MySQL {
		sum = "CAST(COALESCE(SUM(" + tq.rowHash + "), 0) AS CHAR)"
	}
	q := "SELECT " + bucket + " AS b, COUNT(*), " + sum + " FROM " + tq.from + tq.where(p, kr) + tq.window + " GROUP BY 1"
	return q, p.Args
}

// clustered: MariaDB reads a key range from its clustered index, in key
// order (see MariaDB.ordered).
func (tq *tupleQueries) clustered() bool {
	return tq.e == canon.MySQL && tq.ordered && tq.key.Indexed()
}

// perBucketSQL is one aggregate per bucket of kr, glued by UNION ALL:
// agg(where) is the aggregate's select list after "SELECT i AS b, ",
// from FROM on, given the bucket's WHERE clause.
func (tq *tupleQueries) perBucketSQL(p *canon.Params, kr keyRange, bounds []canon.Key, agg func(where string) string) string {
	parts := make([]string, 0, len(bounds)+1)
	lo := kr.lo
	for i := 0; i <= len(bounds); i++ {
		hi := kr.hi
		if i < len(bounds) {
			hi = bounds[i]
		}
		parts = append(parts, fmt.Sprintf("SELECT %d AS b, %s", i, agg(tq.where(p, keyRange{lo: lo, hi: hi})+tq.window)))
		lo = hi
	}
	return strings.Join(parts, " UNION ALL ")
}

// bucketExpr is the bucket of a row among bounds[lo:hi] (buckets lo..hi)
// as nested CASEs, a binary search: each row is compared with about
// log2(len(bounds)) bounds, not all of them. Parameters are added in the
// order the SQL text is written.
func (tq *tupleQueries) bucketExpr(p *canon.Params, bounds []canon.Key, lo, hi int) string {
	if lo == hi {
		return strconv.Itoa(lo)
	}
	mid := (lo + hi) / 2
	cond := tq.key.Compare(p, "<=", bounds[mid])
	left := tq.bucketExpr(p, bounds, lo, mid)
	right := tq.bucketExpr(p, bounds, mid+1, hi)
	return "CASE WHEN " + cond + " THEN " + left + " ELSE " + right + " END"
}

// digestSQL is one aggregate per bucket of kr, each a range scan of the
// key's index, its rows' texts digested in key order: on MariaDB glued by
// UNION ALL, on PostgreSQL mostly one LATERAL subquery (pgDigestSQL).
func (tq *tupleQueries) digestSQL(kr keyRange, bounds []canon.Key) (string, []any) {
	if tq.e == canon.Postgres {
		return tq.pgDigestSQL(kr, bounds)
	}
	p := canon.NewParams(tq.e)
	order, from := tq.key.OrderBy(), tq.from
	if tq.clustered() {
		order, from = "", from+" FORCE INDEX (PRIMARY)"
	}
	q := tq.perBucketSQL(p, kr, bounds, func(where string) string {
		return "COUNT(*) AS c, COALESCE(" + canon.DigestExpr(tq.e, tq.rowText, order) + ", '') AS h FROM " + from + where
	})
	return q, p.Args
}

func (tq *tupleQueries) splitSQL(kr keyRange, every int64) (string, []any) {
	p := canon.NewParams(tq.e)
	// The canonical texts only of the rows kept: the inner query numbers
	// the key columns themselves (an index-only scan in key order where
	// the key orders like an index).
	q := "SELECT " + strings.Join(tq.key.Texts(), ", ") + " FROM (SELECT " + strings.Join(tq.key.Columns(), ", ") +
		", ROW_NUMBER() OVER (ORDER BY " + tq.key.OrderBy() + ") AS rn FROM " + tq.from + tq.where(p, kr) + tq.window +
		fmt.Sprintf(") x WHERE MOD(rn, %d) = 0 ORDER BY rn", every)
	return q, p.Args
}

func (tq *tupleQueries) rowsSQL(kr keyRange) (string, []any) {
	p := canon.NewParams(tq.e)
	cols := append(append([]string(nil), tq.key.Texts()...), tq.q.selected...)
	if tq.q.recent {
		cols = append(cols, tq.q.recentExpr)
	}
	q := "SELECT " + strings.Join(cols, ", ") + " FROM " + tq.from + tq.where(p, kr) + tq.q.rowsWhere + " ORDER BY " + tq.key.OrderBy()
	return q, p.Args
}

// scanner is one engine's way to run a query and scan its rows.
type scanner func(ctx context.Context, query string, args []any, each func(scan func(...any) error) error) error

func (tq *tupleQueries) sums(ctx context.Context, run scanner, kr keyRange, bounds []canon.Key, m Method) (map[int64]Sum, error) {
	query, args := tq.sumsSQL(kr, bounds)
	if m == Digest {
		query, args = tq.digestSQL(kr, bounds)
	}
	out := map[int64]Sum{}
	err := run(ctx, query, args, func(scan func(...any) error) error {
		var b int64
		var s Sum
		if err := scan(&b, &s.Count, &s.Hash); err != nil {
			return err
		}
		if s.Count > 0 {
			out[b] = s
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("checksum %s %s: %w", tq.from, kr, err)
	}
	return out, nil
}

func (tq *tupleQueries) split(ctx context.Context, run scanner, kr keyRange, every int64) ([]canon.Key, error) {
	query, args := tq.splitSQL(kr, max(every, 1))
	out, err := tq.scanKeys(ctx, run, query, args)
	if err != nil {
		return nil, fmt.Errorf("split %s %s: %w", tq.from, kr, err)
	}
	return out, nil
}

// scanKeys runs a query selecting the key texts.
func (tq *tupleQueries) scanKeys(ctx context.Context, run scanner, query string, args []any) ([]canon.Key, error) {
	n := len(tq.key.Texts())
	var out []canon.Key
	err := run(ctx, query, args, func(scan func(...any) error) error {
		k := make(canon.Key, n)
		dst := make([]any, n)
		for i := range k {
			dst[i] = &k[i]
		}
		if err := scan(dst...); err != nil {
			return err
		}
		if err := tq.key.Check(k); err != nil {
			return err
		}
		out = append(out, k)
		return nil
	})
	return out, err
}

func (tq *tupleQueries) rows(ctx context.Context, run scanner, kr keyRange) ([]Row, error) {
	query, args := tq.rowsSQL(kr)
	out, err := tq.scanRows(ctx, run, query, args, tq.q.recent)
	if err != nil {
		return nil, fmt.Errorf("rows of %s %s: %w", tq.from, kr, err)
	}
	return out, nil
}

// scanRows runs a query selecting the key texts, the selected columns
// and, when recent, the recent flag.
func (tq *tupleQueries) scanRows(ctx context.Context, run scanner, query string, args []any, recent bool) ([]Row, error) {
	nk, nv := len(tq.key.Texts()), len(tq.q.kinds)
	var out []Row
	texts := make([]*string, nv)
	err := run(ctx, query, args, func(scan func(...any) error) error {
		r := Row{Tuple: make(canon.Key, nk)}
		dst := make([]any, 0, nk+nv+1)
		for i := range r.Tuple {
			dst = append(dst, &r.Tuple[i])
		}
		for i := range texts {
			texts[i] = nil
			dst = append(dst, &texts[i])
		}
		if recent {
			dst = append(dst, &r.Recent)
		}
		if err := scan(dst...); err != nil {
			return err
		}
		if err := tq.key.Check(r.Tuple); err != nil {
			return err
		}
		r.Values = toValues(texts)
		if err := tq.q.finish(r.Values); err != nil {
			return fmt.Errorf("key %s: %w", r.Tuple, err)
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// pgScanner runs tuple queries on a PostgreSQL pool.
func pgScanner(pool *PGPool) scanner { return pgScannerSet(pool, "") }

// pgSumScanner runs row-sum queries: a hash aggregate, never a sort of
// the range's rows. The planner cannot count a CASE's buckets and
// guesses 200 groups; under a small work_mem it then sorts every row of
// the range by bucket (to disk, doubling the query's time) where a hash
// table of a few dozen buckets would do.
func pgSumScanner(pool *PGPool) scanner { return pgScannerSet(pool, "; SET enable_sort = off") }

func pgScannerSet(pool *PGPool, set string) scanner {
	return func(ctx context.Context, query string, args []any, each func(scan func(...any) error) error) error {
		// An unnamed statement each time: planned for its own bounds (a
		// cached statement gets a generic plan after a few runs, which
		// cannot see that a bucket's range is narrow). No parallel plan and
		// no JIT: a query's buckets are small index range scans, and
		// starting workers or compiling for them (the planner overestimates
		// row comparisons' rows) costs more than the scans.
		args = append([]any{pgx.QueryExecModeExec}, args...)
		return pool.with(ctx, func(c *pgx.Conn) error {
			if _, err := c.Exec(ctx, "SET max_parallel_workers_per_gather = 0; SET jit = off; RESET enable_sort"+set); err != nil {
				return err
			}
			rows, err := c.Query(ctx, query, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				if err := each(rows.Scan); err != nil {
					return err
				}
			}
			return rows.Err()
		})
	}
}

func (p *Postgres) prepareTuple(kinds []canon.Kind) (err error) {
	p.tq, err = p.cfg.Table.prepareTuple(canon.Postgres, p.q, p.keys, kinds)
	if err == nil {
		p.tq.heapOrdered = p.correlated
	}
	return err
}

func (p *Postgres) tupleSums(ctx context.Context, kr keyRange, bounds []canon.Key) (map[int64]Sum, error) {
	return p.tq.sums(ctx, pgSumScanner(p.cfg.Pool), kr, bounds, RowSum)
}

func (p *Postgres) tupleIndexed() bool { return p.tq.key.Indexed() || p.keyIndexed }

func (p *Postgres) tupleOrdered() bool { return p.tupleIndexed() && p.tq.heapOrdered }

func (p *Postgres) tupleDigests(ctx context.Context, kr keyRange, bounds []canon.Key) (map[int64]Sum, error) {
	out, err := p.tq.sums(ctx, pgScanner(p.cfg.Pool), kr, bounds, Digest)
	var pe *pgconn.PgError
	// A text past 1 GB (program limit) or past the server's memory.
	if errors.As(err, &pe) && (pe.Code == "54000" || pe.Code == "53200") {
		return nil, ErrTooLarge
	}
	return out, err
}

func (p *Postgres) tupleSplit(ctx context.Context, kr keyRange, every int64) ([]canon.Key, error) {
	return p.tq.split(ctx, pgScanner(p.cfg.Pool), kr, every)
}

func (p *Postgres) tupleRows(ctx context.Context, kr keyRange) ([]Row, error) {
	return p.tq.rows(ctx, pgScanner(p.cfg.Pool), kr)
}

// myScanner runs tuple queries on MariaDB/MySQL.
func (m *MariaDB) scanner(ctx context.Context, query string, args []any, each func(scan func(...any) error) error) error {
	rows, err := m.cfg.DB.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (m *MariaDB) prepareTuple(kinds []canon.Kind) (err error) {
	m.tq, err = m.cfg.Table.prepareTuple(canon.MySQL, m.q, m.keys, kinds)
	if err == nil {
		m.tq.ordered = m.ordered
	}
	return err
}

func (m *MariaDB) tupleSums(ctx context.Context, kr keyRange, bounds []canon.Key) (map[int64]Sum, error) {
	return m.tq.sums(ctx, m.scanner, kr, bounds, RowSum)
}

func (m *MariaDB) tupleIndexed() bool { return m.tq.key.Indexed() && !m.unindexed }

func (m *MariaDB) tupleOrdered() bool { return m.tq.clustered() }

func (m *MariaDB) tupleDigests(ctx context.Context, kr keyRange, bounds []canon.Key) (map[int64]Sum, error) {
	// One connection for the query and its warnings: a truncated
	// GROUP_CONCAT is only a warning (see Checksums).
	conn, err := m.cfg.DB.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("checksum %s: %w", m.cfg.Table.Name, err)
	}
	defer conn.Close()
	run := func(ctx context.Context, query string, args []any, each func(scan func(...any) error) error) error {
		rows, err := conn.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := each(rows.Scan); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	out, err := m.tq.sums(ctx, run, kr, bounds, Digest)
	if err != nil {
		return nil, err
	}
	cut, err := truncated(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("checksum %s %s: %w", m.cfg.Table.Name, kr, err)
	}
	if cut {
		return nil, ErrTooLarge
	}
	return out, nil
}

func (m *MariaDB) tupleSplit(ctx context.Context, kr keyRange, every int64) ([]canon.Key, error) {
	return m.tq.split(ctx, m.scanner, kr, every)
}

func (m *MariaDB) tupleRows(ctx context.Context, kr keyRange) ([]Row, error) {
	return m.tq.rows(ctx, m.scanner, kr)
}
