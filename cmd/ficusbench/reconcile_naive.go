package main

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
	"github.com/ficus-migrate/ficus/shadow/data/reconcile"
)

// The naive comparison: read both tables whole, in key order, over one
// connection each, canonicalise every value in Go with the same rules, and
// merge-compare. It is what a team writes without checksums.

func pgExec(ctx context.Context, dsn string, stmts ...string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

const naiveBatch = 1024

func runNaive(ctx context.Context, myDSN, pgDSN string) (reconcileRow, error) {
	start := time.Now()
	lc := make(chan []reconcile.Row, 16)
	nc := make(chan []reconcile.Row, 16)
	var ldb, ndb time.Duration
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		defer close(lc)
		began := time.Now()
		err = readLegacy(gctx, myDSN, lc)
		ldb = time.Since(began)
		return err
	})
	g.Go(func() (err error) {
		defer close(nc)
		began := time.Now()
		err = readNew(gctx, pgDSN, nc)
		ndb = time.Since(began)
		return err
	})
	var diffs int
	var rows int64
	g.Go(func() error {
		var lb, nb []reconcile.Row
		lOpen, nOpen := true, true
		for {
			if len(lb) == 0 && lOpen {
				lb, lOpen = <-lc
			}
			if len(nb) == 0 && nOpen {
				nb, nOpen = <-nc
			}
			if len(lb) == 0 && len(nb) == 0 {
				return nil
			}
			// Both tables are read in key order; windows of equal length are
			// compared (exact for the equal tables measured here).
			n := min(len(lb), len(nb))
			if n == 0 { // one side ended: the rest of the other differs
				diffs += len(lb) + len(nb)
				lb, nb = nil, nil
				continue
			}
			d := reconcile.DiffRows(benchLegacy.Columns, benchNew.Columns, lb[:n], nb[:n])
			diffs += len(d)
			rows += int64(n)
			lb, nb = lb[n:], nb[n:]
		}
	})
	if err := g.Wait(); err != nil {
		return reconcileRow{}, err
	}
	return reconcileRow{Name: "naive", WallSeconds: time.Since(start).Seconds(), LegacyDBSecs: ldb.Seconds(),
		NewDBSecs: ndb.Seconds(), Differences: diffs, Rows: rows}, nil
}

func readLegacy(ctx context.Context, dsn string, out chan<- []reconcile.Row) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET time_zone = '+00:00'"); err != nil {
		return err
	}
	rows, err := conn.QueryContext(ctx, "SELECT id, status, amount, customer_id, note, updated_at FROM ficus.orders ORDER BY id")
	if err != nil {
		return err
	}
	defer rows.Close()
	texts := make([]sql.NullString, len(benchKinds))
	dst := make([]any, len(texts)+1)
	for i := range texts {
		dst[i+1] = &texts[i]
	}
	batch := make([]reconcile.Row, 0, naiveBatch)
	for rows.Next() {
		var r reconcile.Row
		dst[0] = &r.Key
		if err := rows.Scan(dst...); err != nil {
			return err
		}
		r.Values = make([]canon.Value, len(texts))
		for i, t := range texts {
			var v any
			if t.Valid {
				v = t.String
			}
			c, err := canon.Canonical(benchKinds[i], v)
			if err != nil {
				return fmt.Errorf("key %d: %w", r.Key, err)
			}
			if r.Values[i], err = canon.Apply(benchLegacy.Rules[i], c); err != nil {
				return err
			}
		}
		if batch = append(batch, r); len(batch) == naiveBatch {
			if err := send(ctx, out, batch); err != nil {
				return err
			}
			batch = make([]reconcile.Row, 0, naiveBatch)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return send(ctx, out, batch)
}

func readNew(ctx context.Context, dsn string, out chan<- []reconcile.Row) error {
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return err
	}
	cc.RuntimeParams["timezone"] = "UTC"
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, "SELECT legacy_id, state, total, customer_ref, note, updated_at FROM public.orders ORDER BY legacy_id")
	if err != nil {
		return err
	}
	defer rows.Close()
	batch := make([]reconcile.Row, 0, naiveBatch)
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return err
		}
		r := reconcile.Row{Key: vals[0].(int64), Values: make([]canon.Value, len(benchKinds))}
		for i, k := range benchKinds {
			if r.Values[i], err = canon.Canonical(k, vals[i+1]); err != nil {
				return fmt.Errorf("key %d: %w", r.Key, err)
			}
		}
		if batch = append(batch, r); len(batch) == naiveBatch {
			if err := send(ctx, out, batch); err != nil {
				return err
			}
			batch = make([]reconcile.Row, 0, naiveBatch)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return send(ctx, out, batch)
}

func send(ctx context.Context, out chan<- []reconcile.Row, b []reconcile.Row) error {
	if len(b) == 0 {
		return nil
	}
	select {
	case out <- b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
