package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// MaterializeTarget is where Materialize writes: a table (no schema: the
// connection's default one) of the database at DSN, of Engine.
type MaterializeTarget struct {
	Engine canon.Engine
	DSN    string // a secret: never printed
	Table  string
}

// Materialize keeps r's differences in a table, one row per differing key:
// compare_data (name), key, kind, legacy and new (the rows as JSON objects
// of column name to canonical value, as --output jsonl writes them; NULL
// for a missing row), columns (the differing pairs, JSON), reason and
// found_at. The table is created when missing; the comparison's earlier
// rows are replaced, in one transaction. Values go in as query parameters,
// never as SQL text.
func (r *Result) Materialize(ctx context.Context, to MaterializeTarget, name string, legacyCols, newCols []string) error {
	rows := make([][]any, 0, len(r.Differences))
	now := time.Now().UTC()
	for _, d := range r.Differences {
		line := jsonlDiff{Legacy: rowObject(legacyCols, d.LegacyRow), New: rowObject(newCols, d.NewRow)}
		for _, c := range d.Columns {
			line.Columns = append(line.Columns, jsonColumn{Legacy: c.Legacy, New: c.New,
				LegacyVal: textPtr(c.LegacyVal.Null, c.LegacyVal.Text), NewVal: textPtr(c.NewVal.Null, c.NewVal.Text)})
		}
		var key any = d.Key
		if d.Tuple != nil {
			key = d.Tuple.JSON()
		}
		row := []any{name, key, d.Kind, jsonOrNil(line.Legacy), jsonOrNil(line.New), jsonOrNil(line.Columns), d.Reason, now}
		rows = append(rows, row)
	}
	q := func(s string) string { return canon.QuoteIdent(to.Engine, s) }
	table := q(to.Table)
	cols := q("compare_data") + ", " + q("key") + ", " + q("kind") + ", " + q("legacy") + ", " + q("new") + ", " +
		q("columns") + ", " + q("reason") + ", " + q("found_at")
	// Column types per engine, in cols' order; json (not jsonb) keeps a
	// NUL a legacy value may hold.
	// A key compared by tuples is kept as its JSON array text, in a table
	// created for it (a table made for integer keys has a bigint key).
	types := []string{"text", "bigint", "text", "json", "json", "json", "text", "timestamptz"}
	params, suffix := "$1, $2, $3, $4, $5, $6, $7, $8", ""
	if r.KeyKinds != nil {
		types[1] = "text"
	}
	if to.Engine == canon.MySQL {
		types = []string{"VARCHAR(255)", "BIGINT", "VARCHAR(32)", "JSON", "JSON", "JSON", "TEXT", "DATETIME(6)"}
		if r.KeyKinds != nil {
			types[1] = "VARCHAR(512)" // in the primary key: InnoDB keys hold 3072 bytes
		}
		params, suffix = "?, ?, ?, ?, ?, ?, ?, ?", " DEFAULT CHARSET utf8mb4"
	}
	names := []string{"compare_data", "key", "kind", "legacy", "new", "columns", "reason", "found_at"}
	create := "CREATE TABLE IF NOT EXISTS " + table + " ("
	for i, n := range names {
		create += q(n) + " " + types[i]
		if i < 3 || n == "found_at" {
			create += " NOT NULL"
		}
		create += ", "
	}
	create += "PRIMARY KEY (" + q("compare_data") + ", " + q("key") + "))" + suffix
	first, _, _ := strings.Cut(params, ",")
	del := "DELETE FROM " + table + " WHERE " + q("compare_data") + " = " + first
	ins := "INSERT INTO " + table + " (" + cols + ") VALUES (" + params + ")"
	switch to.Engine {
	case canon.Postgres:
		return materializePG(ctx, to.DSN, name, rows, create, del, ins)
	case canon.MySQL:
		return materializeMy(ctx, to.DSN, name, rows, create, del, ins)
	}
	return fmt.Errorf("materialize: unknown engine %q", to.Engine)
}

// jsonOrNil is v as JSON text, or nil (SQL NULL) for a nil map or slice.
func jsonOrNil[T any](v T) any {
	b, _ := json.Marshal(v)
	if string(b) == "null" {
		return nil
	}
	return string(b)
}

func materializePG(ctx context.Context, dsn, name string, rows [][]any, create, del, ins string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("materialize: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, create); err != nil {
		return fmt.Errorf("materialize: create table: %w", err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("materialize: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // after Commit: nothing to roll back
	if _, err := tx.Exec(ctx, del, name); err != nil {
		return fmt.Errorf("materialize: %w", err)
	}
	for _, r := range rows {
		if _, err := tx.Exec(ctx, ins, r...); err != nil {
			return fmt.Errorf("materialize: key %v: %w", r[1], err)
		}
	}
	return tx.Commit(ctx)
}

func materializeMy(ctx context.Context, dsn, name string, rows [][]any, create, del, ins string) error {
	db, err := OpenMariaDB(ctx, dsn, 1)
	if err != nil {
		return fmt.Errorf("materialize: %w", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, create); err != nil {
		return fmt.Errorf("materialize: create table: %w", err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("materialize: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // after Commit: nothing to roll back
	if _, err := tx.ExecContext(ctx, del, name); err != nil {
		return fmt.Errorf("materialize: %w", err)
	}
	for _, r := range rows {
		if _, err := tx.ExecContext(ctx, ins, r...); err != nil {
			return fmt.Errorf("materialize: key %v: %w", r[1], err)
		}
	}
	return tx.Commit()
}
