package reconcile

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/go-sql-driver/mysql"

	"github.com/ficus-migrate/ficus/shadow/data"
)

// MariaDBConfig configures a MariaDB/MySQL side.
type MariaDBConfig struct {
	// DB queries the database. Its sessions must use time_zone '+00:00'
	// and a UTF-8 character set; OpenMariaDB sets that up.
	DB    *sql.DB
	Table Table
}

// MariaDB is a Side on a MariaDB or MySQL table.
type MariaDB struct {
	cfg MariaDBConfig
	q   *queries
}

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
		db.Close()
		return nil, fmt.Errorf("connect to mysql: %w", err)
	}
	return db, nil
}

// NewMariaDB returns a MariaDB/MySQL side.
func NewMariaDB(cfg MariaDBConfig) (*MariaDB, error) {
	if cfg.DB == nil {
		return nil, errors.New("mysql side: no database handle")
	}
	if err := cfg.Table.validate(); err != nil {
		return nil, err
	}
	return &MariaDB{cfg: cfg}, nil
}

// Engine implements Side.
func (m *MariaDB) Engine() data.Engine { return data.MySQL }

// Table implements Side.
func (m *MariaDB) Table() Table { return m.cfg.Table }

// Describe implements Side.
func (m *MariaDB) Describe(ctx context.Context) ([]string, error) {
	rows, err := m.cfg.DB.QueryContext(ctx, m.cfg.Table.describeSQL(data.MySQL))
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", m.cfg.Table.Name, err)
	}
	defer rows.Close()
	got := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, fmt.Errorf("describe %s: %w", m.cfg.Table.Name, err)
		}
		got[name] = typ
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("describe %s: %w", m.cfg.Table.Name, err)
	}
	return orderTypes(m.cfg.Table, got)
}

// Prepare implements Side.
func (m *MariaDB) Prepare(kinds []data.Kind) error {
	q, err := m.cfg.Table.prepare(data.MySQL, kinds)
	m.q = q
	return err
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

// Checksums implements Side.
func (m *MariaDB) Checksums(ctx context.Context, lo, hi, step int64) (map[int64]Sum, error) {
	rows, err := m.cfg.DB.QueryContext(ctx, m.q.checksum, lo, step, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("checksum %s [%d, %d]: %w", m.cfg.Table.Name, lo, hi, err)
	}
	defer rows.Close()
	out := map[int64]Sum{}
	for rows.Next() {
		var b int64
		var s Sum
		if err := rows.Scan(&b, &s.Count, &s.Hash); err != nil {
			return nil, fmt.Errorf("checksum %s [%d, %d]: %w", m.cfg.Table.Name, lo, hi, err)
		}
		out[b] = s
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("checksum %s [%d, %d]: %w", m.cfg.Table.Name, lo, hi, err)
	}
	return out, nil
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
	dst := make([]any, n+1)
	for i := range texts {
		dst[i+1] = &texts[i]
	}
	for rows.Next() {
		var r Row
		dst[0] = &r.Key
		if err := rows.Scan(dst...); err != nil {
			return nil, fmt.Errorf("rows of %s: %w", m.cfg.Table.Name, err)
		}
		r.Values = make([]data.Value, n)
		for i, t := range texts {
			r.Values[i] = data.Value{Null: !t.Valid, Text: t.String}
		}
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
