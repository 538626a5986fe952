package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/capture/sink"
)

// TestInterruptedSnapshotIsRedone: a slot whose snapshot was never marked
// complete (the process died half-way) is dropped and the snapshot redone;
// rows already published are de-duplicated by their table+key message id.
func TestInterruptedSnapshotIsRedone(t *testing.T) {
	h := newHarness(t)
	h.DB.Exec(t, `CREATE TABLE items (id int PRIMARY KEY)`)
	h.DB.Exec(t, `INSERT INTO items SELECT generate_series(1, 7)`)

	// First attempt, run to completion, gives the reference message ids.
	h.StartSource()
	first := h.Events(7, 30*time.Second)
	h.Stop()

	// Pretend it died mid-snapshot: state in_progress, slot left behind.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cps, err := sink.OpenCheckpoints(ctx, h.JS, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := cps.Put(ctx, "legacy.snapshot", []byte(`{"state":"in_progress","slot":"ficus_legacy"}`)); err != nil {
		t.Fatal(err)
	}
	oldSlotLSN := lsn(h, `SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = 'ficus_legacy'`)
	h.DB.Exec(t, `UPDATE items SET id = 70 WHERE id = 7`) // changed between the two attempts

	h.StartSource()
	// Unchanged rows 1..6 are duplicates; only the changed row is new.
	ev := h.Events(1, 30*time.Second)
	h.CheckEvent(ev[0], "items", "r", "null", `{"id":70}`, `{"id":70}`, true)
	h.NoMore(500 * time.Millisecond)
	if !strings.Contains(h.Logs(), "initial snapshot never completed; dropping the slot") {
		t.Errorf("no log about redoing the snapshot:\n%s", h.Logs())
	}
	if l := lsn(h, `SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = 'ficus_legacy'`); l <= oldSlotLSN {
		t.Errorf("slot not recreated: confirmed %s, old %s", l, oldSlotLSN)
	}
	raw, err := cps.Get(ctx, "legacy.snapshot")
	if err != nil || !strings.Contains(string(raw), `"state":"done"`) {
		t.Errorf("snapshot state after redo: %s, %v", raw, err)
	}
	for i := range 6 {
		if id := first[i].ID(); !strings.HasPrefix(id, "legacy:snap:public.items:") {
			t.Errorf("snapshot id %q", id)
		}
	}

	// A completed snapshot is not redone on restart.
	h.Stop()
	h.StartSource()
	h.DB.Exec(t, `INSERT INTO items VALUES (100)`)
	h.CheckEvent(h.Events(1, 30*time.Second)[0], "items", "c", "null", `{"id":100}`, `{"id":100}`, false)
}
