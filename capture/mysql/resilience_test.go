package mysql

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func expectInserts(t *testing.T, ev []event, ids ...int) {
	t.Helper()
	for i, e := range ev {
		checkEvent(t, e, "items", "c", "null", fmt.Sprintf(`{"id":%d}`, ids[i]), fmt.Sprintf(`{"id":%d}`, ids[i]), false)
	}
}

func (h *harness) kv() jetstream.KeyValue {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := h.js.KeyValue(ctx, "ficus_checkpoints")
	if err != nil {
		h.t.Fatal(err)
	}
	return kv
}

// checkpoint returns the saved position once its GTID reaches the server's
// current gtid_binlog_pos (everything written so far is durable).
func (h *harness) caughtUp() Position {
	h.t.Helper()
	want := h.db.QueryString(h.t, "SELECT @@gtid_binlog_pos")
	deadline := time.Now().Add(30 * time.Second)
	for {
		e, err := h.kv().Get(context.Background(), "legacy.position")
		if err == nil {
			p, err := ParsePosition(e.Value())
			if err != nil {
				h.t.Fatalf("checkpoint %s: %v", e.Value(), err)
			}
			if p.GTID == want {
				return p
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("checkpoint did not reach %s\nlogs:\n%s", want, h.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (h *harness) insert(ids ...int) {
	for _, id := range ids {
		h.db.Exec(h.t, fmt.Sprintf("INSERT INTO items VALUES (%d)", id))
	}
}

// TestRestarts: source restart, binlog rotation, MariaDB restart, a replay
// from an old checkpoint and a NATS outage lose nothing and put nothing twice
// into the stream.
func TestRestarts(t *testing.T) {
	h := newHarness(t)
	h.db.Exec(t, `CREATE TABLE items (id int PRIMARY KEY)`)
	h.start(h.config())
	h.insert(1)
	expectInserts(t, h.events(1, 30*time.Second), 1)
	old := h.caughtUp()

	// Source restarted; changes made meanwhile arrive once.
	h.stop()
	h.insert(2, 3, 4)
	h.start(h.config())
	expectInserts(t, h.events(3, 30*time.Second), 2, 3, 4)

	// Binlog rotation mid-stream, then a transaction spanning the new file.
	h.db.Exec(t, "FLUSH BINARY LOGS")
	h.insert(5)
	expectInserts(t, h.events(1, 30*time.Second), 5)

	// MariaDB restarted while streaming (it rotates the binlog too).
	h.db.Restart(t)
	h.insert(6)
	expectInserts(t, h.events(1, 30*time.Second), 6)
	h.caughtUp()

	// Replay from an old checkpoint (two binlog files back): every event
	// comes again with its original id and the stream drops it.
	h.stop()
	b, err := old.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.kv().Put(context.Background(), "legacy.position", b); err != nil {
		t.Fatal(err)
	}
	h.start(h.config())
	h.caughtUp()
	h.insert(7)
	expectInserts(t, h.events(1, 30*time.Second), 7)

	// NATS down: publishing stalls (bounded by MaxPending), then resumes.
	h.ns.Stop(t)
	h.insert(8, 9, 10)
	time.Sleep(2 * time.Second)
	h.ns.Restart(t)
	expectInserts(t, h.events(3, 60*time.Second), 8, 9, 10)
	h.caughtUp()
	h.noMore(500 * time.Millisecond)
	if testing.Verbose() {
		t.Logf("logs:\n%s", h.logs.String())
	}
}
