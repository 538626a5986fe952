package reconcile

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/jackc/pgx/v5"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// This file serves a side that is a query (Table.Query) instead of a
// table: a reshaped schema, such as new's orders joined with their items
// and summed to legacy's one row per order. Every query of the side reads
// it as the derived table "(query) AS ficus_q" in its FROM, with the same
// key ranges, window and checksums as a table; only what a table's
// catalog tells (column types, row estimate, clustering) is read from the
// query's result description and plan instead.

// queryAlias names the derived table a query side is read as.
const queryAlias = "ficus_q"

// CheckQuery refuses a Query that could be anything but one SELECT inside
// the parentheses it is put in: what CheckWhere refuses, and anything not
// starting with SELECT or WITH. The database checks the rest (EXPLAIN, in
// Describe).
func CheckQuery(e canon.Engine, s string) error {
	if err := checkFragment(e, s, "a query side", "one SELECT"); err != nil {
		return err
	}
	rest := strings.TrimLeft(s, " \t\r\n(")
	end := strings.IndexFunc(rest, func(r rune) bool { return !unicode.IsLetter(r) })
	if end < 0 {
		end = len(rest)
	}
	if first := rest[:end]; !strings.EqualFold(first, "select") && !strings.EqualFold(first, "with") {
		return fmt.Errorf("starts with %q: a query side is one SELECT (or WITH … SELECT)", first)
	}
	return nil
}

// IsQuery says whether t is a query side.
func (t Table) IsQuery() bool { return t.Query != "" }

// explainQuerySQL plans the query alone (EXPLAIN runs nothing): a query
// that is not one SELECT, or names what does not exist, fails here.
func (t Table) explainQuerySQL(e canon.Engine) string {
	return "EXPLAIN SELECT * FROM " + t.quotedName(e)
}

// describeQuerySQL returns no row but the query's result description.
func (t Table) describeQuerySQL(e canon.Engine) string {
	return "SELECT * FROM " + t.quotedName(e) + " WHERE 1 = 0"
}

// addQueryColumn records one output column of a query side; a name the
// query gives twice is ambiguous, so refused.
func addQueryColumn(t Table, got map[string]canon.Column, name string, col canon.Column) error {
	if _, dup := got[name]; dup {
		return fmt.Errorf("%s: the query returns two columns named %q: give them distinct names (AS)", t.Name, name)
	}
	got[name] = col
	return nil
}

// describeQuery reads a MariaDB/MySQL query side's output columns: the
// driver's type names are information_schema's, upper case, with
// UNSIGNED before integer types. Nullability is what the server says.
func (m *MariaDB) describeQuery(ctx context.Context) (map[string]canon.Column, error) {
	t := m.cfg.Table
	plan, err := m.cfg.DB.QueryContext(ctx, t.explainQuerySQL(canon.MySQL))
	if err != nil {
		return nil, fmt.Errorf("%s: the database refused the query: %w", t.Name, err)
	}
	if err := plan.Close(); err != nil {
		return nil, fmt.Errorf("%s: the database refused the query: %w", t.Name, err)
	}
	rows, err := m.cfg.DB.QueryContext(ctx, t.describeQuerySQL(canon.MySQL))
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", t.Name, err)
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", t.Name, err)
	}
	got := map[string]canon.Column{}
	for _, ct := range types {
		typ := strings.ToLower(strings.TrimPrefix(ct.DatabaseTypeName(), "UNSIGNED "))
		col := canon.Column{DataType: typ, Nullable: true, Scale: -1}
		if _, scale, ok := ct.DecimalSize(); ok {
			col.Scale = int(scale)
		}
		if n, ok := ct.Nullable(); ok {
			col.Nullable = n
		}
		if err := addQueryColumn(t, got, ct.Name(), col); err != nil {
			return nil, err
		}
	}
	return got, rows.Err()
}

// estimateQuery is the planner's row estimate of a MariaDB/MySQL query
// side: the first row of its EXPLAIN (the derived table when the server
// materialises it, else the join's first table), 0 when it gives none.
func (m *MariaDB) estimateQuery(ctx context.Context) (int64, error) {
	rows, err := m.cfg.DB.QueryContext(ctx, m.cfg.Table.explainQuerySQL(canon.MySQL))
	if err != nil {
		return 0, fmt.Errorf("row estimate of %s: %w", m.cfg.Table.Name, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, fmt.Errorf("row estimate of %s: %w", m.cfg.Table.Name, err)
	}
	vals := make([]sql.NullString, len(cols))
	dst := make([]any, len(cols))
	for i := range vals {
		dst[i] = &vals[i]
	}
	if !rows.Next() {
		return 0, rows.Err()
	}
	if err := rows.Scan(dst...); err != nil {
		return 0, fmt.Errorf("row estimate of %s: %w", m.cfg.Table.Name, err)
	}
	for i, c := range cols {
		if c == "rows" && vals[i].Valid {
			var n int64
			if _, err := fmt.Sscan(vals[i].String, &n); err == nil {
				return max(n, 0), nil
			}
		}
	}
	return 0, nil
}

// pgTypeSQL names a type as information_schema.columns.data_type does
// (udt_name for user-defined types such as enums).
const pgTypeSQL = `SELECT CASE WHEN t.typtype IN ('e', 'c', 'r', 'm') OR t.typcategory = 'U' THEN t.typname::text
	ELSE format_type(t.oid, NULL) END FROM pg_type t WHERE t.oid = $1`

// pgNumericOID is numeric's type OID; its type modifier holds the scale.
const pgNumericOID = 1700

// describeQuery reads a PostgreSQL query side's output columns from the
// result description of a query that returns no row; PostgreSQL does
// not say whether a result column can be NULL, so every one may.
func (p *Postgres) describeQuery(ctx context.Context) (map[string]canon.Column, error) {
	t := p.cfg.Table
	if err := p.cfg.Pool.query(ctx, t.explainQuerySQL(canon.Postgres), func(pgx.Rows) error { return nil }); err != nil {
		return nil, fmt.Errorf("%s: the database refused the query: %w", t.Name, err)
	}
	got := map[string]canon.Column{}
	err := p.cfg.Pool.with(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, t.describeQuerySQL(canon.Postgres))
		if err != nil {
			return err
		}
		fields := slices.Clone(rows.FieldDescriptions())
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, f := range fields {
			var typ string
			if err := c.QueryRow(ctx, pgTypeSQL, f.DataTypeOID).Scan(&typ); err != nil {
				return fmt.Errorf("type of column %q: %w", f.Name, err)
			}
			col := canon.Column{DataType: typ, Nullable: true, Scale: -1}
			if f.DataTypeOID == pgNumericOID && f.TypeModifier >= 4 {
				col.Scale = int((f.TypeModifier - 4) & 0xffff)
			}
			if err := addQueryColumn(t, got, f.Name, col); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", t.Name, err)
	}
	return got, nil
}

// estimateQuery is the planner's row estimate of a PostgreSQL query side
// (EXPLAIN, which runs nothing).
func (p *Postgres) estimateQuery(ctx context.Context) (int64, error) {
	var plan string
	q := "EXPLAIN (FORMAT JSON) SELECT * FROM " + p.cfg.Table.quotedName(canon.Postgres)
	if err := p.cfg.Pool.queryRow(ctx, q, []any{&plan}); err != nil {
		return 0, fmt.Errorf("row estimate of %s: %w", p.cfg.Table.Name, err)
	}
	var out []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		} `json:"Plan"`
	}
	if err := json.Unmarshal([]byte(plan), &out); err != nil || len(out) == 0 {
		return 0, nil // no estimate: the other side's sizes the ranges
	}
	return max(int64(out[0].Plan.Rows), 0), nil
}

// KeyReader reads the rows of given keys: continuous mode reads a query
// side's rows again for the keys its tables' changes touch. The side must
// be described and prepared (Describe, Prepare), then PrepareKeys.
type KeyReader interface {
	Side
	// PrepareKeys fixes the key's kinds (the two sides' unified ones; for
	// a key of one integer column, [KindInteger]).
	PrepareKeys(kinds []canon.Kind) error
	// RowsOf returns the rows of keys (each the key columns' canonical
	// texts; at most a few hundred at once: one condition per key), in
	// key order, values canonical; keys without a row are absent. Where
	// and MinAge are not applied: continuous mode compares every row.
	RowsOf(ctx context.Context, keys []canon.Key) ([]Row, error)
}

var (
	_ KeyReader = (*MariaDB)(nil)
	_ KeyReader = (*Postgres)(nil)
)

// PrepareKeys implements KeyReader.
func (m *MariaDB) PrepareKeys(kinds []canon.Kind) error { return m.prepareTuple(kinds) }

// RowsOf implements KeyReader.
func (m *MariaDB) RowsOf(ctx context.Context, keys []canon.Key) ([]Row, error) {
	return m.tq.rowsOf(ctx, m.scanner, keys)
}

// PrepareKeys implements KeyReader.
func (p *Postgres) PrepareKeys(kinds []canon.Kind) error { return p.prepareTuple(kinds) }

// RowsOf implements KeyReader.
func (p *Postgres) RowsOf(ctx context.Context, keys []canon.Key) ([]Row, error) {
	return p.tq.rowsOf(ctx, pgScanner(p.cfg.Pool), keys)
}

// rowsOf selects the rows of keys: one equality per key, ORed, every key
// value a parameter.
func (tq *tupleQueries) rowsOf(ctx context.Context, run scanner, keys []canon.Key) ([]Row, error) {
	if tq == nil {
		return nil, errors.New("RowsOf before PrepareKeys")
	}
	if len(keys) == 0 {
		return nil, nil
	}
	p := canon.NewParams(tq.e)
	conds := make([]string, len(keys))
	for i, k := range keys {
		if len(k) != len(tq.key.Texts()) {
			return nil, fmt.Errorf("key %s: %d values for %d key columns", k, len(k), len(tq.key.Texts()))
		}
		conds[i] = tq.key.Compare(p, "=", k)
	}
	cols := append(append([]string(nil), tq.key.Texts()...), tq.q.selected...)
	query := "SELECT " + strings.Join(cols, ", ") + " FROM " + tq.from + " WHERE " + tq.key.NotNull() +
		" AND (" + strings.Join(conds, " OR ") + ") ORDER BY " + tq.key.OrderBy()
	out, err := tq.scanRows(ctx, run, query, p.Args, false)
	if err != nil {
		return nil, fmt.Errorf("rows of %s for %d key(s): %w", tq.from, len(keys), err)
	}
	return out, nil
}
