package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ficus-migrate/ficus/capture/backfill"
	"github.com/ficus-migrate/ficus/capture/capturetest"
	"github.com/ficus-migrate/ficus/capture/mask"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// TestBackfillWhileStreaming: a table backfilled while a writer inserts,
// updates and deletes the same keys; a consumer applying the stream in order
// ends equal to the table, and no op r event is older than a change already
// published. A second, filtered request queues behind the first; requests
// the database cannot serve are refused.
func TestBackfillWhileStreaming(t *testing.T) {
	t.Parallel()
	// Scaled down from the 300,000 rows at 2,000 changes/s for
	// make test (see capturetest.BackfillScale; FICUS_BACKFILL_FULL=1 runs
	// the full size).
	size := capturetest.BackfillScale()
	h := newHarness(t)
	h.DB.Exec(t, `CREATE TABLE bf (id int PRIMARY KEY, v int NOT NULL, note text NOT NULL, secret text DEFAULT 'PLANTED-SECRET')`)
	h.DB.Exec(t, `CREATE TABLE nokey (id int)`)
	h.DB.Exec(t, `ALTER TABLE nokey REPLICA IDENTITY FULL`)
	h.DB.Exec(t, fmt.Sprintf(`INSERT INTO bf (id, v, note) SELECT i, 0, 'n' || i FROM generate_series(1, %d) i`, size.Rows))

	mgr, err := backfill.New(backfill.Config{Source: capturetest.SourceName, Dialect: canon.Postgres, JS: h.JS,
		Logger: h.Logger(), Registerer: h.Registry})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config(h)
	cfg.Tables, cfg.Snapshot, cfg.Backfill = []string{"public.bf", "public.nokey"}, SnapshotNever, mgr
	// Backfilled rows go through the column rules like streamed ones: the
	// replica would differ from the table's id, v, note with secret in.
	if cfg.Mask, err = mask.New(mask.Config{Tables: map[string]mask.Table{"public.bf": {Exclude: []string{"secret"}}}}); err != nil {
		t.Fatal(err)
	}
	src, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.Start(src)

	ctx, cancel := context.WithTimeout(context.Background(), size.Timeout)
	defer cancel()
	for _, bad := range []struct {
		name string
		req  backfill.Request
	}{
		{"unknown table", backfill.Request{Table: "public.nope"}},
		{"no primary key", backfill.Request{Table: "public.nokey"}},
		{"second statement", backfill.Request{Table: "public.bf", Where: "true; DROP TABLE bf"}},
		{"bad column", backfill.Request{Table: "public.bf", Where: "nosuch > 1"}},
		{"chunk too large", backfill.Request{Table: "public.bf", Chunk: backfill.MaxChunk + 1}},
	} {
		var be *backfill.BadRequestError
		if _, err := capturetest.EnqueueActive(ctx, mgr, bad.req); !errors.As(err, &be) {
			t.Errorf("%s: Enqueue = %v, want a BadRequestError", bad.name, err)
		}
	}

	wctx, stopWriter := context.WithCancel(ctx)
	writerDone := make(chan int)
	// Half of the writes go to the chunk being read and the next one, so
	// streamed changes land inside the windows.
	hot := func() int {
		st, err := mgr.Status(wctx)
		if err != nil || st.Table == "" {
			return 1
		}
		return 1 + int(st.Chunks)*size.Chunk
	}
	wstart := time.Now()
	for range size.Writers {
		conn := h.DB.Conn(t)
		go func() { writerDone <- write(wctx, t, conn, size, hot) }()
	}
	time.Sleep(300 * time.Millisecond) // changes before the first chunk too

	started := time.Now()
	if _, err := capturetest.EnqueueActive(ctx, mgr, backfill.Request{Table: "public.bf", Chunk: size.Chunk}); err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.Enqueue(ctx, backfill.Request{Table: "public.bf", Where: "id % 7 = 0", Chunk: size.Chunk / 2}); err != nil {
		t.Fatal(err)
	}
	if st, err := mgr.Status(ctx); err != nil || st.Queued != 1 || st.Table != "public.bf" {
		t.Errorf("status after two requests: %+v, %v", st, err)
	}
	capturetest.WaitBackfilled(ctx, t, mgr, h.Logs)
	elapsed := time.Since(started)
	stopWriter()
	changes := 0
	for range size.Writers {
		changes += <-writerDone
	}
	rate := float64(changes) / time.Since(wstart).Seconds()
	waitConfirmed(h)

	rep := h.Replay("bf")
	want := tableLines(t, ctx, h)
	if d := capturetest.Diff(rep.Compact(), want); d != "" {
		t.Errorf("replica differs from the table (%d rows, %d in replica):\n%s", len(want), len(rep.Rows), d)
	}
	if rep.Reads < size.Rows/2 || changes < 100 {
		t.Errorf("%d op r events, %d changes written: the test did not exercise a backfill under writes", rep.Reads, changes)
	}
	// About 20,000 rows in chunks of 1,000 (the writer inserts up to
	// 22,000) and the filtered request's chunks of 500.
	if got, lo := h.Metric("ficus_capture_backfill_chunks_total", map[string]string{"table": "public.bf"}), float64(size.Rows/size.Chunk); got < lo || got > lo+30 {
		t.Errorf("chunks = %v, want %v to %v", got, lo, lo+30)
	}
	// A condition that passes EXPLAIN but fails on a row stops its request
	// for good, with the error kept for GET /api/capture/{source}.
	if _, err := mgr.Enqueue(ctx, backfill.Request{Table: "public.bf", Where: "1 / (id - 5) > 0", Chunk: 10}); err != nil {
		t.Fatal(err)
	}
	for {
		st, err := mgr.Status(ctx)
		if err == nil && st.State == "idle" {
			if !strings.Contains(st.LastError, "division by zero") {
				t.Errorf("last_error = %q, want the division by zero", st.LastError)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("failing backfill still queued: %+v, %v", st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d rows backfilled (two requests) in %s while %d changes were written (%.0f/s); replayed %d op r and %d changes; %d rows",
		size.Rows, elapsed.Round(time.Millisecond), changes, rate, rep.Reads, rep.Changes, len(want))
}

// write inserts, updates and deletes random keys of 1..keys, half
// of them from hot() on at up to
// size.PerTick changes per 10 ms (fewer when the database is slower) until ctx ends, and returns how many it made.
func write(ctx context.Context, t *testing.T, conn *pgx.Conn, size capturetest.BackfillSize, hot func() int) int {
	keys := size.Rows + 2000
	n := 0
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return n
		case <-tick.C:
		}
		base := hot()
		for i := range size.PerTick {
			id := 1 + rand.IntN(keys)
			if i%2 == 0 {
				id = base + rand.IntN(2*size.Chunk)
			}
			var q string
			switch rand.IntN(5) {
			case 0:
				q = "DELETE FROM bf WHERE id = $1"
			case 4:
				// A new key: the old one is gone, and must not come back
				// from a chunk read before the update.
				q = "UPDATE bf SET id = id + 1000000 WHERE id = $1"
			case 1:
				q = "INSERT INTO bf (id, v, note) VALUES ($1, 1, 'i') ON CONFLICT (id) DO UPDATE SET v = bf.v + 1, note = 'r'"
			default:
				q = "UPDATE bf SET v = v + 1, note = 'u' || v WHERE id = $1"
			}
			if _, err := conn.Exec(ctx, q, id); err != nil {
				var pgErr *pgconn.PgError
				if errors.As(err, &pgErr) && (pgErr.Code == "23505" || pgErr.Code == "40P01") {
					continue // a key moved onto one another writer has: nothing changed
				}
				if ctx.Err() == nil {
					t.Errorf("writer: %v", err)
				}
				return n
			}
			n++
		}
	}
}

// tableLines is the table as Replica.Compact writes it.
func tableLines(t *testing.T, ctx context.Context, h *harness) []string {
	t.Helper()
	rows, err := h.DB.Conn(t).Query(ctx, "SELECT id, v, note FROM bf ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, v int
		var note string
		if err := rows.Scan(&id, &v, &note); err != nil {
			t.Fatal(err)
		}
		nb, _ := json.Marshal(note)
		out = append(out, fmt.Sprintf(`{"id":%d}={"id":%d,"v":%d,"note":%s}`, id, id, v, nb))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}
