package capturetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// The backfill tests (the readers' and the e2e one) share one table,
// bf (id int PRIMARY KEY, v int NOT NULL, note text NOT NULL), created and
// filled with ids 1..rows by each test in its engine's SQL. This file holds
// what they do with it that does not depend on the engine: write to it while
// it is backfilled, read it as a replica's lines, compare the two.

// TableQuery reads table bf for TableLines.
const TableQuery = "SELECT id, v, note FROM bf"

// Rows is a query's result as both drivers return it (*sql.Rows, pgx.Rows).
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// TableLines is table bf, read by TableQuery, as Replica.Compact writes it.
// It takes the query's results as they come, (rows, err), and closes rows.
func TableLines(t testing.TB, rows Rows, err error) []string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer closeRows(rows)
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

// closeRows closes either driver's rows: database/sql's Close returns an
// error, pgx's does not, so neither fits one interface.
func closeRows(r Rows) {
	switch c := r.(type) {
	case interface{ Close() error }:
		_ = c.Close()
	case interface{ Close() }:
		c.Close()
	}
}

// CheckReplica fails the test where rep (the stream applied in order) differs
// from table (TableLines), or where the run did not exercise a backfill under
// writes: fewer than rows/2 op r events replayed or fewer than 100 changes
// written.
func CheckReplica(t testing.TB, rep *Replica, table []string, rows, changes int) {
	t.Helper()
	if d := Diff(rep.Compact(), table); d != "" {
		t.Errorf("replica differs from the table (%d rows, %d in replica):\n%s", len(table), len(rep.Rows), d)
	}
	if rep.Reads < rows/2 || changes < 100 {
		t.Errorf("%d op r events, %d changes written: the test did not exercise a backfill under writes", rep.Reads, changes)
	}
}

// Writer deletes, inserts or updates, and updates random rows of table bf
// while a backfill reads it, so that the replica check meets changes before,
// inside and after the chunks' windows.
type Writer struct {
	// Update, Delete and Upsert (an insert that updates the row when the key
	// is taken) are the engine's statements, each with one placeholder: the
	// key.
	Update, Delete, Upsert string
	// MoveKey (optional) changes a row's key: the old key is gone, and must
	// not come back from a chunk read before the update.
	MoveKey string
	// Exec runs one of the statements for key id.
	Exec func(ctx context.Context, q string, id int) error
	// Benign (optional) tells the errors that changed nothing, after which the
	// writer goes on: a key moved onto one another writer has, a deadlock.
	Benign func(error) bool
	// Keys is how many keys the writer picks from: 1..Keys.
	Keys int
	// PerTick is the ceiling of changes per 10 ms tick (fewer when the
	// database is slower).
	PerTick int
	// Hot (optional) is the first key of the chunk being read: half of the
	// writes then go to it and the next 2*Chunk-1 keys, so that streamed
	// changes land inside the windows.
	Hot   func() int
	Chunk int
}

// ExecOf adapts either driver's exec method (pgx's Conn.Exec, database/sql's
// DB.ExecContext) to Writer.Exec: they differ only in what they return.
func ExecOf[R any](exec func(ctx context.Context, q string, args ...any) (R, error)) func(ctx context.Context, q string, id int) error {
	return func(ctx context.Context, q string, id int) error {
		_, err := exec(ctx, q, id)
		return err
	}
}

// Run writes until ctx ends and returns how many changes it made. A
// statement that fails otherwise than Benign fails the test (unless ctx
// ended) and stops the writer. Run may be called in a goroutine of its own.
func (w Writer) Run(ctx context.Context, t testing.TB) int {
	ops := 4 // delete, upsert, update, update
	if w.MoveKey != "" {
		ops = 5 // and a key change
	}
	n := 0
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return n
		case <-tick.C:
		}
		base := 0
		if w.Hot != nil {
			base = w.Hot()
		}
		for i := range w.PerTick {
			id := 1 + rand.IntN(w.Keys)
			if w.Hot != nil && i%2 == 0 {
				id = base + rand.IntN(2*w.Chunk)
			}
			q := w.Update
			switch rand.IntN(ops) {
			case 0:
				q = w.Delete
			case 1:
				q = w.Upsert
			case 4:
				q = w.MoveKey
			}
			if err := w.Exec(ctx, q, id); err != nil {
				if w.Benign != nil && w.Benign(err) {
					continue
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
