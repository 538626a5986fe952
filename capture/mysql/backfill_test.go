package mysql

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/ficus-migrate/ficus/capture/backfill"
	"github.com/ficus-migrate/ficus/capture/capturetest"
	"github.com/ficus-migrate/ficus/capture/mask"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// TestBackfillWhileStreaming: a table backfilled while a writer inserts,
// updates and deletes the same keys; a consumer applying the stream in order
// ends equal to the table, and no op r event is older than a change already
// published. A second, filtered request queues behind the first; requests
// the database cannot serve are refused. The signal table is in the
// captured database and is never published.
func TestBackfillWhileStreaming(t *testing.T) {
	t.Parallel()
	// Scaled down from the 300,000 rows at 2,000 changes/s for
	// make test (see capturetest.BackfillScale; FICUS_BACKFILL_FULL=1 runs
	// the full size).
	size := capturetest.BackfillScale()
	h := newHarness(t)
	h.DB.Exec(t, `CREATE TABLE bf (id int PRIMARY KEY, v int NOT NULL, note varchar(40) NOT NULL, secret varchar(40) DEFAULT 'PLANTED-SECRET')`)
	h.DB.Exec(t, `CREATE TABLE nokey (id int)`)
	h.DB.Exec(t, fmt.Sprintf(`INSERT INTO bf (id, v, note) SELECT seq, 0, CONCAT('n', seq) FROM seq_1_to_%d`, size.Rows))

	mgr, err := backfill.New(backfill.Config{Source: capturetest.SourceName, Dialect: canon.MySQL, JS: h.JS,
		Logger: h.Logger(), Registerer: h.Registry})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config(h)
	cfg.Snapshot, cfg.Backfill = SnapshotNever, mgr // every table of the database, the signal table's too
	// Backfilled rows go through the column rules like streamed ones: the
	// replica would differ from the table's id, v, note with secret in.
	if cfg.Mask, err = mask.New(mask.Config{Tables: map[string]mask.Table{"ficus.bf": {Exclude: []string{"secret"}}}}); err != nil {
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
		{"unknown table", backfill.Request{Table: "ficus.nope"}},
		{"other database", backfill.Request{Table: "mysql.user"}},
		{"no primary key", backfill.Request{Table: "ficus.nokey"}},
		{"signal table", backfill.Request{Table: "ficus.ficus_signal"}},
		{"second statement", backfill.Request{Table: "ficus.bf", Where: "1=1; DROP TABLE bf"}},
		{"comment", backfill.Request{Table: "ficus.bf", Where: "1=1 # x"}},
		{"bad column", backfill.Request{Table: "ficus.bf", Where: "nosuch > 1"}},
	} {
		var be *backfill.BadRequestError
		if _, err := capturetest.EnqueueActive(ctx, mgr, bad.req); !errors.As(err, &be) {
			t.Errorf("%s: Enqueue = %v, want a BadRequestError", bad.name, err)
		}
	}

	wctx, stopWriter := context.WithCancel(ctx)
	writerDone := make(chan int)
	wdb := h.DB.DB(t)
	hot := func() int {
		st, err := mgr.Status(wctx)
		if err != nil || st.Table == "" {
			return 1
		}
		return 1 + int(st.Chunks)*size.Chunk
	}
	wstart := time.Now()
	for range size.Writers {
		go func() { writerDone <- write(wctx, t, wdb, size, hot) }()
	}
	time.Sleep(300 * time.Millisecond)

	started := time.Now()
	if _, err := capturetest.EnqueueActive(ctx, mgr, backfill.Request{Table: "ficus.bf", Chunk: size.Chunk}); err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.Enqueue(ctx, backfill.Request{Table: "ficus.bf", Where: "id % 7 = 0", Chunk: size.Chunk / 2}); err != nil {
		t.Fatal(err)
	}
	capturetest.WaitBackfilled(ctx, t, mgr, h.Logs)
	elapsed := time.Since(started)
	stopWriter()
	changes := 0
	for range size.Writers {
		changes += <-writerDone
	}
	rate := float64(changes) / time.Since(wstart).Seconds()
	caughtUp(h)

	rep := h.Replay("bf")
	want := tableLines(ctx, t, wdb)
	if d := capturetest.Diff(rep.Compact(), want); d != "" {
		t.Errorf("replica differs from the table (%d rows, %d in replica):\n%s", len(want), len(rep.Rows), d)
	}
	if rep.Reads < size.Rows/2 || changes < 100 {
		t.Errorf("%d op r events, %d changes written: the test did not exercise a backfill under writes", rep.Reads, changes)
	}
	if got, lo := h.Metric("ficus_capture_backfill_chunks_total", map[string]string{"table": "ficus.bf"}), float64(size.Rows/size.Chunk); got < lo || got > lo+30 {
		t.Errorf("chunks = %v, want %v to %v", got, lo, lo+30)
	}
	if n := h.Replay("ficus_signal"); n.Reads+n.Changes != 0 {
		t.Errorf("%d events of the signal table published", n.Reads+n.Changes)
	}
	t.Logf("%d rows backfilled (two requests) in %s while %d changes were written (%.0f/s); replayed %d op r and %d changes; %d rows",
		size.Rows, elapsed.Round(time.Millisecond), changes, rate, rep.Reads, rep.Changes, len(want))
}

// write inserts, updates and deletes random keys of 1..keys, half of them
// from hot() on, at up to size.PerTick changes per 10 ms until ctx ends, and returns
// how many it made.
func write(ctx context.Context, t *testing.T, db *sql.DB, size capturetest.BackfillSize, hot func() int) int {
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
			q := "UPDATE bf SET v = v + 1, note = CONCAT('u', v) WHERE id = ?"
			switch rand.IntN(5) {
			case 0:
				q = "DELETE FROM bf WHERE id = ?"
			case 4:
				// A new key: the old one is gone, and must not come back
				// from a chunk read before the update.
				q = "UPDATE IGNORE bf SET id = id + 1000000 WHERE id = ?"
			case 1:
				q = "INSERT INTO bf (id, v, note) VALUES (?, 1, 'i') ON DUPLICATE KEY UPDATE v = v + 1, note = 'r'"
			}
			if _, err := db.ExecContext(ctx, q, id); err != nil {
				var me *driver.MySQLError
				if errors.As(err, &me) && (me.Number == 1062 || me.Number == 1213) {
					continue // a key moved onto one another writer has, or a deadlock: nothing changed
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
func tableLines(ctx context.Context, t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.QueryContext(ctx, "SELECT id, v, note FROM bf")
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
