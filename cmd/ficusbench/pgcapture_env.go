package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ficus-migrate/ficus/internal/testenv"
)

// startPostgres starts a throwaway PostgreSQL (testenv) with extra server
// settings; the caller closes it.
func startPostgres(ctx context.Context, log *slog.Logger, settings ...string) (*testenv.Postgres, error) {
	pg, err := testenv.StartPostgres(ctx, testenv.PostgresOptions{Settings: settings, Logf: debugf(log)})
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	return pg, nil
}

const ordersDDL = `CREATE TABLE public.orders (
	id bigserial PRIMARY KEY,
	customer_id int NOT NULL,
	amount numeric(12,2) NOT NULL,
	status text NOT NULL,
	payload jsonb,
	created_at timestamptz NOT NULL DEFAULT now())`

// loadBatch inserts rows [lo, hi] in one transaction. The payload is a small
// order document, varied per row so the JSON is not degenerate.
const loadBatch = `INSERT INTO public.orders (customer_id, amount, status, payload, created_at)
SELECT (g * 7919) % 100000, ((g * 31) % 100000) / 100.0,
	(ARRAY['new','paid','shipped','delivered','cancelled'])[1 + g % 5],
	jsonb_build_object('sku', 'SKU-' || (g % 5000), 'qty', 1 + g % 9, 'gift', g % 13 = 0,
		'note', md5(g::text), 'tags', jsonb_build_array('web', 'promo-' || (g % 17))),
	timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second'
FROM generate_series($1::bigint, $2::bigint) AS g`

// prepareDatabase creates the table, the publication and every slot before
// any row is written, so each slot decodes exactly the same WAL.
func prepareDatabase(ctx context.Context, conn *pgx.Conn, publication string, slots []string) error {
	if _, err := conn.Exec(ctx, ordersDDL); err != nil {
		return fmt.Errorf("create table: %w", err)
	}
	if _, err := conn.Exec(ctx, "CREATE PUBLICATION "+pgx.Identifier{publication}.Sanitize()+" FOR TABLE public.orders"); err != nil {
		return fmt.Errorf("create publication: %w", err)
	}
	for _, s := range slots {
		if _, err := conn.Exec(ctx, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", s); err != nil {
			return fmt.Errorf("create slot %q: %w", s, err)
		}
	}
	return nil
}

// loadRows writes n rows in batches of at most batch rows, one transaction each.
func loadRows(ctx context.Context, conn *pgx.Conn, n, batch int) (time.Duration, error) {
	began := time.Now()
	for lo := 1; lo <= n; lo += batch {
		hi := min(lo+batch-1, n)
		if _, err := conn.Exec(ctx, loadBatch, lo, hi); err != nil {
			return 0, fmt.Errorf("load rows %d-%d: %w", lo, hi, err)
		}
	}
	return time.Since(began), nil
}

func currentLSN(ctx context.Context, conn *pgx.Conn) (string, error) {
	var lsn string
	if err := conn.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&lsn); err != nil {
		return "", fmt.Errorf("read current wal lsn: %w", err)
	}
	return lsn, nil
}

// quietLogger drops the chatter of the in-process NATS server and sink
// (including the expected "disconnected" warning when it shuts down).
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}
