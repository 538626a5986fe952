package reconcile

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

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
	// tupleRows returns the rows of kr in key order, values canonical.
	tupleRows(ctx context.Context, kr keyRange) ([]Row, error)
}

// tupleQueries is the key-tuple SQL of one side.
type tupleQueries struct {
	e       canon.Engine
	key     *canon.KeySQL
	from    string
	rowHash string // per-row hash expression
	window  string // " AND (…)" of checksums, or ""
	q       *queries
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
	rowText := canon.RowTextExprKey(k.Texts(), q.hashed, q.nullable)
	return &tupleQueries{e: e, key: k, from: t.quotedName(e), rowHash: canon.RowHashExpr(e, rowText), window: q.window, q: q}, nil
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
	bucket := tq.bucketExpr(p, bounds, 0, len(bounds))
	sum := "COALESCE(SUM(" + tq.rowHash + "), 0)::text"
	if tq.e == canon.MySQL {
		sum = "CAST(COALESCE(SUM(" + tq.rowHash + "), 0) AS CHAR)"
	}
	q := "SELECT " + bucket + " AS b, COUNT(*), " + sum + " FROM " + tq.from + tq.where(p, kr) + tq.window + " GROUP BY 1"
	return q, p.Args
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

func (tq *tupleQueries) splitSQL(kr keyRange, every int64) (string, []any) {
	p := canon.NewParams(tq.e)
	texts := tq.key.Texts()
	inner, outer := make([]string, len(texts)), make([]string, len(texts))
	for i, t := range texts {
		inner[i] = fmt.Sprintf("%s AS k%d", t, i)
		outer[i] = fmt.Sprintf("k%d", i)
	}
	q := "SELECT " + strings.Join(outer, ", ") + " FROM (SELECT " + strings.Join(inner, ", ") +
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

func (tq *tupleQueries) sums(ctx context.Context, run scanner, kr keyRange, bounds []canon.Key) (map[int64]Sum, error) {
	query, args := tq.sumsSQL(kr, bounds)
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
		out = append(out, k)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("split %s %s: %w", tq.from, kr, err)
	}
	return out, nil
}

func (tq *tupleQueries) rows(ctx context.Context, run scanner, kr keyRange) ([]Row, error) {
	query, args := tq.rowsSQL(kr)
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
		if tq.q.recent {
			dst = append(dst, &r.Recent)
		}
		if err := scan(dst...); err != nil {
			return err
		}
		r.Values = toValues(texts)
		if err := tq.q.finish(r.Values); err != nil {
			return fmt.Errorf("key %s: %w", r.Tuple, err)
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rows of %s %s: %w", tq.from, kr, err)
	}
	return out, nil
}

// pgScanner runs tuple queries on a PostgreSQL pool.
func pgScanner(pool *PGPool) scanner {
	return func(ctx context.Context, query string, args []any, each func(scan func(...any) error) error) error {
		return pool.query(ctx, query, func(r pgx.Rows) error { return each(r.Scan) }, args...)
	}
}

func (p *Postgres) prepareTuple(kinds []canon.Kind) (err error) {
	p.tq, err = p.cfg.Table.prepareTuple(canon.Postgres, p.q, p.keys, kinds)
	return err
}

func (p *Postgres) tupleSums(ctx context.Context, kr keyRange, bounds []canon.Key) (map[int64]Sum, error) {
	return p.tq.sums(ctx, pgScanner(p.cfg.Pool), kr, bounds)
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
	return err
}

func (m *MariaDB) tupleSums(ctx context.Context, kr keyRange, bounds []canon.Key) (map[int64]Sum, error) {
	return m.tq.sums(ctx, m.scanner, kr, bounds)
}

func (m *MariaDB) tupleSplit(ctx context.Context, kr keyRange, every int64) ([]canon.Key, error) {
	return m.tq.split(ctx, m.scanner, kr, every)
}

func (m *MariaDB) tupleRows(ctx context.Context, kr keyRange) ([]Row, error) {
	return m.tq.rows(ctx, m.scanner, kr)
}
