package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/capture/backfill"
	"github.com/ficus-migrate/ficus/capture/capturetest"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// TestBackfillWhileStreaming: capturetest.BackfillWhileStreaming on
// PostgreSQL, with its refusals of requests, and a condition that fails only
// on a row stopping its request for good.
func TestBackfillWhileStreaming(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.BackfillWhileStreaming(capturetest.BackfillCase{
		Table: "public.bf", Dialect: canon.Postgres,
		Setup: func(rows int) []string {
			return []string{
				`CREATE TABLE bf (id int PRIMARY KEY, v int NOT NULL, note text NOT NULL, secret text DEFAULT 'PLANTED-SECRET')`,
				`CREATE TABLE nokey (id int)`,
				`ALTER TABLE nokey REPLICA IDENTITY FULL`,
				fmt.Sprintf(`INSERT INTO bf (id, v, note) SELECT i, 0, 'n' || i FROM generate_series(1, %d) i`, rows),
			}
		},
		Source: func() (capture.Source, error) {
			cfg := config(h)
			cfg.Tables, cfg.Snapshot = []string{"public.bf", "public.nokey"}, SnapshotNever
			cfg.Backfill, cfg.Mask = h.Backfill, h.Mask
			return New(cfg)
		},
		Refused: []capturetest.BadRequest{
			{Name: "unknown table", Table: "public.nope"},
			{Name: "no primary key", Table: "public.nokey"},
			{Name: "second statement", Table: "public.bf", Where: "true; DROP TABLE bf"},
			{Name: "bad column", Table: "public.bf", Where: "nosuch > 1"},
			{Name: "chunk too large", Table: "public.bf", Chunk: backfill.MaxChunk + 1},
		},
		Writer: capturetest.Writer{
			Update:  "UPDATE bf SET v = v + 1, note = 'u' || v WHERE id = $1",
			Delete:  "DELETE FROM bf WHERE id = $1",
			Upsert:  "INSERT INTO bf (id, v, note) VALUES ($1, 1, 'i') ON CONFLICT (id) DO UPDATE SET v = bf.v + 1, note = 'r'",
			MoveKey: "UPDATE bf SET id = id + 1000000 WHERE id = $1",
			Benign:  changedNothing,
		},
		// A pgx.Conn serves one goroutine: a connection per writer.
		NewExec: func() func(context.Context, string, int) error { return capturetest.ExecOf(h.DB.Conn(t).Exec) },
		Lines: func(ctx context.Context) []string {
			rows, err := h.DB.Conn(t).Query(ctx, capturetest.TableQuery)
			return capturetest.TableLines(t, rows, err)
		},
		Then: func(ctx context.Context) { failingRowStops(ctx, t, h.Backfill) },
	})
}

// failingRowStops: a condition that passes EXPLAIN but fails on a row stops
// its request for good, with the error kept for GET /api/capture/{source}.
func failingRowStops(ctx context.Context, t *testing.T, mgr *backfill.Manager) {
	t.Helper()
	if _, err := mgr.Enqueue(ctx, backfill.Request{Table: "public.bf", Where: "1 / (id - 5) > 0", Chunk: 10}); err != nil {
		t.Fatal(err)
	}
	for {
		st, err := mgr.Status(ctx)
		if err == nil && st.State == "idle" {
			if !strings.Contains(st.LastError, "division by zero") {
				t.Errorf("last_error = %q, want the division by zero", st.LastError)
			}
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("failing backfill still queued: %+v, %v", st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// changedNothing: a key moved onto one another writer has (23505), or a
// deadlock (40P01), left the table as it was; the writer goes on.
func changedNothing(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "23505" || pgErr.Code == "40P01")
}
