package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ficus-migrate/ficus/internal/testenv"
)

// benchTB lets the benchmark reuse testenv's throwaway servers outside a test
// binary. testenv only calls the methods below; the embedded nil interface
// makes any other call panic loudly rather than silently misbehave.
type benchTB struct {
	testing.TB
	log      *slog.Logger
	dir      string
	mu       sync.Mutex
	cleanups []func()
	failed   bool
}

// tbFatal is what Fatalf panics with; startPostgres turns it into an error.
type tbFatal struct{ msg string }

func newBenchTB(log *slog.Logger, dir string) *benchTB { return &benchTB{log: log, dir: dir} }

func (t *benchTB) Helper()      {}
func (t *benchTB) Name() string { return "ficusbench" }
func (t *benchTB) TempDir() string {
	d, err := os.MkdirTemp(t.dir, "tb-")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	return d
}
func (t *benchTB) Context() context.Context     { return context.Background() }
func (t *benchTB) Logf(format string, a ...any) { t.log.Debug(fmt.Sprintf(format, a...)) }
func (t *benchTB) Errorf(format string, a ...any) {
	t.mu.Lock()
	t.failed = true
	t.mu.Unlock()
	t.log.Error(fmt.Sprintf(format, a...))
}
func (t *benchTB) Fatalf(format string, a ...any) {
	t.mu.Lock()
	t.failed = true
	t.mu.Unlock()
	panic(tbFatal{msg: fmt.Sprintf(format, a...)})
}
func (t *benchTB) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}
func (t *benchTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

// close runs the cleanups in reverse order, as testing does.
func (t *benchTB) close() {
	t.mu.Lock()
	fs := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

func startPostgres(tb *benchTB) (pg *testenv.Postgres, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(tbFatal)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("start postgres: %s", f.msg)
		}
	}()
	return testenv.StartPostgres(tb), nil
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
