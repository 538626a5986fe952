package mysql

import (
	"context"
	"testing"
	"time"
)

// TestBinlogRotationAndReplay: binlog rotation mid-stream and a MariaDB
// restart lose nothing, and a replay from an old checkpoint (two binlog files
// back) brings every event again with its original id, which the stream
// drops. (Source restarts and NATS outages: TestConformance/Restarts.)
func TestBinlogRotationAndReplay(t *testing.T) {
	h := newHarness(t)
	h.DB.Exec(t, `CREATE TABLE items (id int PRIMARY KEY)`)
	h.StartSource()
	h.InsertItems(1)
	h.ExpectInserts(h.Events(1, 30*time.Second), 1)
	old := caughtUp(h)

	// Source restarted; changes made meanwhile arrive once.
	h.Stop()
	h.InsertItems(2, 3, 4)
	h.StartSource()
	h.ExpectInserts(h.Events(3, 30*time.Second), 2, 3, 4)

	// Binlog rotation mid-stream, then a transaction spanning the new file.
	h.DB.Exec(t, "FLUSH BINARY LOGS")
	h.InsertItems(5)
	h.ExpectInserts(h.Events(1, 30*time.Second), 5)

	// MariaDB restarted while streaming (it rotates the binlog too).
	h.DB.Restart(t)
	h.InsertItems(6)
	h.ExpectInserts(h.Events(1, 30*time.Second), 6)
	caughtUp(h)

	// Replay from an old checkpoint (two binlog files back): every event
	// comes again with its original id and the stream drops it.
	h.Stop()
	b, err := old.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv(h).Put(context.Background(), "legacy.position", b); err != nil {
		t.Fatal(err)
	}
	h.StartSource()
	caughtUp(h)
	h.InsertItems(7)
	h.ExpectInserts(h.Events(1, 30*time.Second), 7)
	h.NoMore(500 * time.Millisecond)
	if testing.Verbose() {
		t.Logf("logs:\n%s", h.Logs())
	}
}
