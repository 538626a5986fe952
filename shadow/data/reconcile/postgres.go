package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// PostgresConfig configures a PostgreSQL side.
type PostgresConfig struct {
	// Pool queries the database; see OpenPostgres.
	Pool  *PGPool
	Table Table
}

// Postgres is a Side on a PostgreSQL table.
type Postgres struct {
	cfg    PostgresConfig
	q      *queries
	digest string
	cols   []canon.Column // from Describe
	keys   []canon.Column // from Describe: the key columns
	tq     *tupleQueries  // from prepareTuple
	window window         // from Describe, see Table.windowSQL
	// correlated, from Describe: the heap follows the first key column
	// (see heapFollowsKey).
	correlated bool
	// keyIndexed: an index gives the key order (see tupleIndex).
	keyIndexed bool
}

// PGPool is a fixed set of connections with TimeZone UTC, the session
// setting the canonical expressions need. It is small on purpose: reconcile
// runs a bounded number of queries at once.
type PGPool struct {
	cc    *pgx.ConnConfig
	conns chan *pgx.Conn
	mu    sync.Mutex
	all   []*pgx.Conn
}

// OpenPostgres opens n connections to dsn. Errors never contain the DSN.
func OpenPostgres(ctx context.Context, dsn string, n int) (*PGPool, error) {
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("parse postgres DSN: invalid (not shown)")
	}
	cc.RuntimeParams["timezone"] = "UTC"
	cc.RuntimeParams["datestyle"] = "ISO, YMD"
	cc.RuntimeParams["application_name"] = "ficus-reconcile"
	p := &PGPool{cc: cc, conns: make(chan *pgx.Conn, max(n, 1))}
	for range max(n, 1) {
		c, err := pgx.ConnectConfig(ctx, cc)
		if err != nil {
			p.Close(ctx)
			return nil, fmt.Errorf("connect to postgres: %w", err)
		}
		p.all = append(p.all, c)
		p.conns <- c
	}
	return p, nil
}

// Close closes every connection.
func (p *PGPool) Close(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.all {
		_ = c.Close(ctx) // nothing to do about a failed goodbye
	}
}

// with runs fn on a free connection. A connection that a cancelled query
// or a network error closed is replaced before use.
func (p *PGPool) with(ctx context.Context, fn func(*pgx.Conn) error) error {
	var c *pgx.Conn
	select {
	case c = <-p.conns:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { p.conns <- c }()
	if c.IsClosed() {
		fresh, err := pgx.ConnectConfig(ctx, p.cc)
		if err != nil {
			return fmt.Errorf("reconnect to postgres: %w", err)
		}
		p.mu.Lock()
		p.all = append(p.all, fresh)
		p.mu.Unlock()
		c = fresh
	}
	return fn(c)
}

func (p *PGPool) queryRow(ctx context.Context, sql string, dst []any, args ...any) error {
	return p.with(ctx, func(c *pgx.Conn) error { return c.QueryRow(ctx, sql, args...).Scan(dst...) })
}

// query calls each for every row; scanning happens inside.
func (p *PGPool) query(ctx context.Context, sql string, each func(pgx.Rows) error, args ...any) error {
	return p.with(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := each(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}

// NewPostgres returns a PostgreSQL side.
func NewPostgres(cfg PostgresConfig) (*Postgres, error) {
	if cfg.Pool == nil {
		return nil, errors.New("postgres side: no pool")
	}
	if err := cfg.Table.validate(canon.Postgres); err != nil {
		return nil, err
	}
	return &Postgres{cfg: cfg}, nil
}

// Engine implements Side.
func (p *Postgres) Engine() canon.Engine { return canon.Postgres }

// Table implements Side.
func (p *Postgres) Table() Table { return p.cfg.Table }

// Describe implements Side.
func (p *Postgres) Describe(ctx context.Context) ([]string, error) {
	var got map[string]canon.Column
	var err error
	if p.cfg.Table.IsQuery() {
		got, err = p.describeQuery(ctx)
	} else {
		got = map[string]canon.Column{}
		err = p.cfg.Pool.query(ctx, p.cfg.Table.describeSQL(canon.Postgres), func(r pgx.Rows) error {
			return describeRow(r.Scan, got)
		})
		if err != nil {
			err = fmt.Errorf("describe %s: %w", p.cfg.Table.Name, err)
		}
	}
	if err != nil {
		return nil, err
	}
	if p.cols, p.keys, err = orderColumns(p.cfg.Table, got); err != nil {
		return nil, err
	}
	if err := p.describeWindow(ctx, got); err != nil {
		return nil, err
	}
	if p.correlated, err = p.heapFollowsKey(ctx); err != nil {
		return nil, err
	}
	return dataTypes(p.cols), nil
}

// minCorrelation is the heap order, as pg_stats measures it, below which
// a key range is read at random: an index scan in key order visits a page
// per row, where row sums read the range's pages once (see tupleOrdered).
const minCorrelation = 0.9

// heapFollowsKey reports whether the table's rows lie in the order of its
// first key column (|pg_stats.correlation| >= minCorrelation). Unknown
// (a query side, or a table never analysed) counts as ordered: digests,
// as before correlation was looked at.
func (p *Postgres) heapFollowsKey(ctx context.Context) (bool, error) {
	if p.cfg.Table.IsQuery() || len(p.cfg.Table.KeyNames()) == 0 {
		return true, nil
	}
	var corr *float64
	err := p.cfg.Pool.query(ctx, `SELECT s.correlation::float8 FROM pg_stats s
		JOIN pg_class c ON c.relname = s.tablename JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = s.schemaname
		WHERE c.oid = $1::regclass AND s.attname = $2`, func(r pgx.Rows) error { return r.Scan(&corr) },
		p.cfg.Table.quotedName(canon.Postgres), p.cfg.Table.KeyNames()[0])
	if err != nil {
		return false, fmt.Errorf("key order of %s: %w", p.cfg.Table.Name, err)
	}
	return corr == nil || *corr >= minCorrelation || *corr <= -minCorrelation, nil
}

// describeWindow checks the window and fixes its condition for the run.
func (p *Postgres) describeWindow(ctx context.Context, got map[string]canon.Column) error {
	t := p.cfg.Table
	if !t.needsWindow() {
		return nil
	}
	if err := t.checkWindow(canon.Postgres, got); err != nil {
		return err
	}
	var now time.Time
	if t.MinAge > 0 {
		var s string
		err := p.cfg.Pool.queryRow(ctx, "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')", []any{&s})
		if err != nil {
			return fmt.Errorf("table %s: read the clock: %w", t.Name, err)
		}
		if now, err = parseClock(s); err != nil {
			return fmt.Errorf("table %s: %w", t.Name, err)
		}
	}
	p.window = t.windowSQL(canon.Postgres, now)
	// A prepared statement (pgx's default mode) holds one statement only.
	return explainWindow(ctx, t, canon.Postgres, p.window, func(ctx context.Context, q string) error {
		return p.cfg.Pool.query(ctx, q, func(pgx.Rows) error { return nil })
	})
}

// KeyTypes implements Side.
func (p *Postgres) KeyTypes() []string { return dataTypes(p.keys) }

// Prepare implements Side.
func (p *Postgres) Prepare(kinds []canon.Kind) error {
	q, err := p.cfg.Table.prepare(canon.Postgres, kinds, p.cols, p.window)
	if err != nil {
		return err
	}
	p.q = q
	// One index range scan per bucket, in key order (the ORDER BY is what
	// the index gives for free, and what makes both sides' texts line
	// up), instead of a GROUP BY, for which PostgreSQL sorts every row.
	key := canon.QuoteIdent(canon.Postgres, p.cfg.Table.intKey())
	p.digest = "SELECT u.b, s.c, s.h FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS u(b, lo, hi), " +
		"LATERAL (SELECT count(*) AS c, " + canon.DigestExpr(canon.Postgres, "o.r", "") + " AS h FROM (SELECT " + q.rowText +
		" AS r FROM " + p.cfg.Table.quotedName(canon.Postgres) + " WHERE " + key + " >= u.lo AND " + key + " <= u.hi" + q.window + " ORDER BY " + key +
		") o) s WHERE s.c > 0"
	return nil
}

// Bounds implements Side.
func (p *Postgres) Bounds(ctx context.Context) (lo, hi int64, ok bool, err error) {
	var l, h *int64
	if err := p.cfg.Pool.queryRow(ctx, p.q.bounds, []any{&l, &h}); err != nil {
		return 0, 0, false, fmt.Errorf("key bounds of %s: %w", p.cfg.Table.Name, err)
	}
	if l == nil || h == nil {
		return 0, 0, false, nil
	}
	return *l, *h, true, nil
}

// Estimate implements Side.
func (p *Postgres) Estimate(ctx context.Context) (int64, error) {
	if p.cfg.Table.IsQuery() {
		return p.estimateQuery(ctx)
	}
	var n float64
	err := p.cfg.Pool.queryRow(ctx, "SELECT reltuples::float8 FROM pg_class WHERE oid = $1::regclass", []any{&n},
		p.cfg.Table.quotedName(canon.Postgres))
	if err != nil {
		return 0, fmt.Errorf("row estimate of %s: %w", p.cfg.Table.Name, err)
	}
	return max(int64(n), 0), nil // -1: never analysed
}

// Checksums implements Side.
func (p *Postgres) Checksums(ctx context.Context, lo, hi, step int64, m Method) (map[int64]Sum, error) {
	out := map[int64]Sum{}
	scan := func(r pgx.Rows) error {
		var b int64
		var s Sum
		if err := r.Scan(&b, &s.Count, &s.Hash); err != nil {
			return err
		}
		out[b] = s
		return nil
	}
	var err error
	if m == Digest {
		idx, los, his := buckets(lo, hi, step)
		err = p.cfg.Pool.query(ctx, p.digest, scan, idx, los, his)
		var pe *pgconn.PgError
		// A text past 1 GB (program limit) or past the server's memory.
		if errors.As(err, &pe) && (pe.Code == "54000" || pe.Code == "53200") {
			return nil, ErrTooLarge
		}
	} else {
		err = p.cfg.Pool.query(ctx, p.q.checksum, scan, lo, hi, step)
	}
	if err != nil {
		return nil, fmt.Errorf("checksum %s [%d, %d]: %w", p.cfg.Table.Name, lo, hi, err)
	}
	return out, nil
}

// Rows implements Side.
func (p *Postgres) Rows(ctx context.Context, lo, hi int64) ([]Row, error) {
	n := len(p.q.kinds)
	var out []Row
	texts := make([]*string, n)
	dst := make([]any, n+1, n+2)
	for i := range texts {
		dst[i+1] = &texts[i]
	}
	var recent bool
	if p.q.recent {
		dst = append(dst, &recent)
	}
	err := p.cfg.Pool.query(ctx, p.q.rows, func(rows pgx.Rows) error {
		var r Row
		dst[0] = &r.Key
		if err := rows.Scan(dst...); err != nil {
			return err
		}
		r.Values = toValues(texts)
		r.Recent = recent
		if err := p.q.finish(r.Values); err != nil {
			return fmt.Errorf("key %d: %w", r.Key, err)
		}
		out = append(out, r)
		return nil
	}, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("rows of %s [%d, %d]: %w", p.cfg.Table.Name, lo, hi, err)
	}
	return out, nil
}

func toValues(texts []*string) []canon.Value {
	vals := make([]canon.Value, len(texts))
	for i, t := range texts {
		if t == nil {
			vals[i] = canon.Value{Null: true}
		} else {
			vals[i] = canon.Value{Text: *t}
		}
	}
	return vals
}
