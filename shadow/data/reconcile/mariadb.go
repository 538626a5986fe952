package reconcile

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// MariaDBConfig configures a MariaDB/MySQL side.
type MariaDBConfig struct {
	// DB queries the database. Its sessions must use time_zone '+00:00',
	// a UTF-8 character set and a group_concat_max_len that holds a
	// bucket's text; OpenMariaDB sets that up.
	DB    *sql.DB
	Table Table
}

// MariaDB is a Side on a MariaDB or MySQL table.
type MariaDB struct {
	cfg MariaDBConfig
	q   *queries
	// ordered: a range scan on the key returns rows in key order (InnoDB,
	// whose rows are stored in primary key order, with the key first in
	// the primary key), so GROUP_CONCAT need not sort.
	ordered bool
	digest  string
	cols    []canon.Column // from Describe
	keys    []canon.Column // from Describe: the key columns
	tq      *tupleQueries  // from prepareTuple
	window  window         // from Describe, see Table.windowSQL
	// unindexed: the key is ordered by its own columns but no index
	// gives that order (see tupleIndex).
	unindexed bool
}

// DigestBytes is the group_concat_max_len OpenMariaDB sets. The server's
// max_allowed_packet (16 MiB by default) caps it too; a bucket that does
// not fit is summed row by row instead (see Checksums).
const DigestBytes = 64 << 20

// OpenMariaDB opens a pool on a go-sql-driver DSN with the session settings
// the canonical expressions need. Errors never contain the DSN.
func OpenMariaDB(ctx context.Context, dsn string, maxConns int) (*sql.DB, error) {
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, errors.New("parse mysql DSN: invalid (not shown)")
	}
	if mc.Params == nil {
		mc.Params = map[string]string{}
	}
	mc.Params["time_zone"] = "'+00:00'"
	mc.Params["group_concat_max_len"] = fmt.Sprint(DigestBytes)
	mc.Collation = "utf8mb4_general_ci" // a UTF-8 connection
	mc.ParseTime = false
	// One round trip per range query instead of prepare, execute, close.
	mc.InterpolateParams = true
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, fmt.Errorf("connect to mysql: %w", err)
	}
	db := sql.OpenDB(conn)
	if maxConns > 0 {
		db.SetMaxOpenConns(maxConns)
		db.SetMaxIdleConns(maxConns)
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close() // never connected; the ping's error is the one to report
		return nil, fmt.Errorf("connect to mysql: %w", err)
	}
	return db, nil
}

// NewMariaDB returns a MariaDB/MySQL side.
func NewMariaDB(cfg MariaDBConfig) (*MariaDB, error) {
	if cfg.DB == nil {
		return nil, errors.New("mysql side: no database handle")
	}
	if err := cfg.Table.validate(canon.MySQL); err != nil {
		return nil, err
	}
	return &MariaDB{cfg: cfg}, nil
}

// Engine implements Side.
func (m *MariaDB) Engine() canon.Engine { return canon.MySQL }

// Table implements Side.
func (m *MariaDB) Table() Table { return m.cfg.Table }

// Describe implements Side.
func (m *MariaDB) Describe(ctx context.Context) ([]string, error) {
	got, err := m.describeTable(ctx)
	if m.cfg.Table.IsQuery() {
		got, err = m.describeQuery(ctx)
	}
	if err != nil {
		return nil, err
	}
	if m.cols, m.keys, err = orderColumns(m.cfg.Table, got); err != nil {
		return nil, err
	}
	if err := m.describeWindow(ctx, got); err != nil {
		return nil, err
	}
	if m.ordered, err = m.clusteredOnKey(ctx); err != nil {
		return nil, fmt.Errorf("describe %s: %w", m.cfg.Table.Name, err)
	}
	return dataTypes(m.cols), nil
}

// describeTable reads the table's columns from information_schema.
func (m *MariaDB) describeTable(ctx context.Context) (map[string]canon.Column, error) {
	rows, err := m.cfg.DB.QueryContext(ctx, m.cfg.Table.describeSQL(canon.MySQL))
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", m.cfg.Table.Name, err)
	}
	defer rows.Close()
	got := map[string]canon.Column{}
	for rows.Next() {
		if err := describeRow(rows.Scan, got); err != nil {
			return nil, fmt.Errorf("describe %s: %w", m.cfg.Table.Name, err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("describe %s: %w", m.cfg.Table.Name, err)
	}
	return got, nil
}

// describeWindow checks the window and fixes its condition for the run.
func (m *MariaDB) describeWindow(ctx context.Context, got map[string]canon.Column) error {
	t := m.cfg.Table
	if !t.needsWindow() {
		return nil
	}
	if err := t.checkWindow(canon.MySQL, got); err != nil {
		return err
	}
	var now time.Time
	if t.MinAge > 0 {
		// The session's time_zone is +00:00 (see OpenMariaDB).
		var s string
		if err := m.cfg.DB.QueryRowContext(ctx, "SELECT DATE_FORMAT(NOW(6), '%Y-%m-%d %H:%i:%s.%f')").Scan(&s); err != nil {
			return fmt.Errorf("table %s: read the clock: %w", t.Name, err)
		}
		var err error
		if now, err = parseClock(s); err != nil {
			return fmt.Errorf("table %s: %w", t.Name, err)
		}
	}
	m.window = t.windowSQL(canon.MySQL, now)
	return explainWindow(ctx, t, canon.MySQL, m.window, func(ctx context.Context, q string) error {
		// Without arguments and without multiStatements, one statement
		// only: a second one is a syntax error on the server.
		rows, err := m.cfg.DB.QueryContext(ctx, q)
		if err != nil {
			return err
		}
		return rows.Close()
	})
}

// clusteredOnKey reports whether the table is InnoDB with the key as the
// first column of its primary key: then every range scan of the key is in
// key order.
func (m *MariaDB) clusteredOnKey(ctx context.Context) (bool, error) {
	if m.cfg.Table.IsQuery() {
		return false, nil // a query's rows come in no promised order
	}
	schema, name, _ := strings.Cut(m.cfg.Table.Name, ".")
	var engine, pk sql.NullString
	err := m.cfg.DB.QueryRowContext(ctx, `SELECT t.engine, (SELECT GROUP_CONCAT(k.column_name ORDER BY k.ordinal_position SEPARATOR '\n')
		FROM information_schema.key_column_usage k
		WHERE k.table_schema = t.table_schema AND k.table_name = t.table_name AND k.constraint_name = 'PRIMARY')
		FROM information_schema.tables t WHERE t.table_schema = ? AND t.table_name = ?`,
		schema, name).Scan(&engine, &pk)
	if err != nil {
		return false, err
	}
	// The key columns first in the primary key, in order: a range scan of
	// the primary key is in key order.
	cols := strings.Split(pk.String, "\n")
	keys := m.cfg.Table.KeyNames()
	return strings.EqualFold(engine.String, "InnoDB") && len(cols) >= len(keys) && slices.Equal(cols[:len(keys)], keys), nil
}

// KeyTypes implements Side.
func (m *MariaDB) KeyTypes() []string { return dataTypes(m.keys) }

// Prepare implements Side.
func (m *MariaDB) Prepare(kinds []canon.Kind) error {
	q, err := m.cfg.Table.prepare(canon.MySQL, kinds, m.cols, m.window)
	if err != nil {
		return err
	}
	m.q = q
	key := canon.QuoteIdent(canon.MySQL, m.cfg.Table.intKey())
	order, from := key, m.cfg.Table.quotedName(canon.MySQL)
	if m.ordered {
		// The clustered index, not a covering secondary one whose order
		// would be another.
		order, from = "", from+" FORCE INDEX (PRIMARY)"
	}
	// One aggregate per bucket, glued by UNION ALL (see digestSQL): a
	// GROUP BY would feed GROUP_CONCAT in the order of its temporary
	// table, not the scan's.
	m.digest = "SELECT ? AS b, COUNT(*), " + canon.DigestExpr(canon.MySQL, q.rowText, order) +
		" FROM " + from + " WHERE " + key + " >= ? AND " + key + " <= ?" + q.window
	return nil
}

// digestSQL is the Digest query over the given buckets and its arguments.
func (m *MariaDB) digestSQL(idx, los, his []int64) (string, []any) {
	var b strings.Builder
	args := make([]any, 0, 3*len(idx))
	for i := range idx {
		if i > 0 {
			b.WriteString(" UNION ALL ")
		}
		b.WriteString(m.digest)
		args = append(args, idx[i], los[i], his[i])
	}
	return b.String(), args
}

// Bounds implements Side.
func (m *MariaDB) Bounds(ctx context.Context) (lo, hi int64, ok bool, err error) {
	var l, h sql.NullInt64
	if err := m.cfg.DB.QueryRowContext(ctx, m.q.bounds).Scan(&l, &h); err != nil {
		return 0, 0, false, fmt.Errorf("key bounds of %s: %w", m.cfg.Table.Name, err)
	}
	if !l.Valid || !h.Valid {
		return 0, 0, false, nil
	}
	return l.Int64, h.Int64, true, nil
}

// Estimate implements Side.
func (m *MariaDB) Estimate(ctx context.Context) (int64, error) {
	if m.cfg.Table.IsQuery() {
		return m.estimateQuery(ctx)
	}
	schema, name, _ := strings.Cut(m.cfg.Table.Name, ".")
	var n sql.NullInt64
	err := m.cfg.DB.QueryRowContext(ctx, "SELECT table_rows FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
		schema, name).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("row estimate of %s: %w", m.cfg.Table.Name, err)
	}
	return max(n.Int64, 0), nil
}

// Checksums implements Side.
func (m *MariaDB) Checksums(ctx context.Context, lo, hi, step int64, meth Method) (map[int64]Sum, error) {
	// One connection for the query and its warnings: a truncated
	// GROUP_CONCAT is only a warning, and a digest of a truncated text
	// would hide differences past the cut.
	conn, err := m.cfg.DB.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("checksum %s: %w", m.cfg.Table.Name, err)
	}
	defer conn.Close()
	query, args := m.q.checksum, []any{lo, step, lo, hi}
	if meth == Digest {
		query, args = m.digestSQL(buckets(lo, hi, step))
	}
	out, err := m.sums(ctx, conn, query, args...)
	if err != nil {
		return nil, fmt.Errorf("checksum %s [%d, %d]: %w", m.cfg.Table.Name, lo, hi, err)
	}
	if meth == Digest {
		cut, err := truncated(ctx, conn)
		if err != nil {
			return nil, fmt.Errorf("checksum %s [%d, %d]: %w", m.cfg.Table.Name, lo, hi, err)
		}
		if cut {
			return nil, ErrTooLarge
		}
	}
	return out, nil
}

func (m *MariaDB) sums(ctx context.Context, conn *sql.Conn, query string, args ...any) (map[int64]Sum, error) {
	rows, err := conn.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]Sum{}
	for rows.Next() {
		var b int64
		var s Sum
		var h sql.NullString // NULL for an empty bucket
		if err := rows.Scan(&b, &s.Count, &h); err != nil {
			return nil, err
		}
		if s.Count > 0 {
			s.Hash = h.String
			out[b] = s
		}
	}
	return out, rows.Err()
}

// truncated reports whether the last statement on conn cut a GROUP_CONCAT
// short (1260: group_concat_max_len; 1301: max_allowed_packet).
func truncated(ctx context.Context, conn *sql.Conn) (bool, error) {
	rows, err := conn.QueryContext(ctx, "SHOW WARNINGS")
	if err != nil {
		return false, err
	}
	defer rows.Close()
	cut := false
	for rows.Next() {
		var level, msg string
		var code int
		if err := rows.Scan(&level, &code, &msg); err != nil {
			return false, err
		}
		cut = cut || code == 1260 || code == 1301
	}
	return cut, rows.Err()
}

// Rows implements Side.
func (m *MariaDB) Rows(ctx context.Context, lo, hi int64) ([]Row, error) {
	rows, err := m.cfg.DB.QueryContext(ctx, m.q.rows, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("rows of %s [%d, %d]: %w", m.cfg.Table.Name, lo, hi, err)
	}
	defer rows.Close()
	n := len(m.q.kinds)
	var out []Row
	texts := make([]sql.NullString, n)
	dst := make([]any, n+1, n+2)
	for i := range texts {
		dst[i+1] = &texts[i]
	}
	var recent bool
	if m.q.recent {
		dst = append(dst, &recent)
	}
	for rows.Next() {
		var r Row
		dst[0] = &r.Key
		if err := rows.Scan(dst...); err != nil {
			return nil, fmt.Errorf("rows of %s: %w", m.cfg.Table.Name, err)
		}
		r.Values = make([]canon.Value, n)
		for i, t := range texts {
			r.Values[i] = canon.Value{Null: !t.Valid, Text: t.String}
		}
		r.Recent = recent
		if err := m.q.finish(r.Values); err != nil {
			return nil, fmt.Errorf("rows of %s, key %d: %w", m.cfg.Table.Name, r.Key, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("rows of %s: %w", m.cfg.Table.Name, err)
	}
	return out, nil
}
