package capturetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/capture"
)

// Types is a reader's value mapping contract: every case goes through the
// snapshot, the stream and an update's before image, which must all publish
// exactly Want.
type Types struct {
	Setup []string // run first: the types and domains the cases use
	Cases []TypeCase
	// Create is the CREATE TABLE types statement: column id int PRIMARY KEY,
	// then cols ("c0 boolean", "c1 bigint", ...), which take NULL.
	Create func(cols []string) string
	// Insert is the INSERT INTO types statement of one row: id, then the
	// cases' literals in order.
	Insert func(id int, literals []string) string
	// Golden is the file holding the whole published row, every case one
	// line (both the snapshot's and the stream's row must match it); Update
	// points at the test binary's -update flag, which rewrites it.
	Golden string
	Update *bool
}

// TypeCase is one column type, an SQL literal of it, and the exact JSON
// published for that value; an empty Want leaves the value to the golden
// file alone.
type TypeCase struct{ Type, Literal, Want string }

// Run runs every scenario against the reader hs describes, each as a subtest
// with its own database and NATS server.
func Run[D DB](t *testing.T, hs Harness[D]) {
	for _, sc := range []struct {
		name string
		run  func(*H[D])
	}{
		{"SnapshotThenStreaming", snapshotThenStreaming[D]},
		{"Restarts", restarts[D]},
		{"Types", types[D]},
		{"MissingTable", missingTable[D]},
		{"OddNames", oddNames[D]},
		{"TooLarge", tooLarge[D]},
		{"Masks", masks[D]},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(New(t, hs)) })
	}
}

// snapshotThenStreaming: the initial snapshot, then inserts, updates, deletes,
// a transaction, a truncate and schema changes streamed from the log, only
// from the configured table, with their metrics.
func snapshotThenStreaming[D DB](h *H[D]) {
	t, hs := h.T, h.hs
	h.exec(`CREATE TABLE orders (id int PRIMARY KEY, item varchar(20) NOT NULL, qty int)`,
		`CREATE TABLE other (id int PRIMARY KEY)`)
	h.fullBefore("orders")
	h.exec(`INSERT INTO orders VALUES (1,'item1',10),(2,'item2',20),(3,'item3',30),(4,'item4',40),(5,'item5',50)`)
	h.StartSource(hs.Schema + ".orders")

	// Snapshot: in primary key order, across two keyset pages (chunk size 3).
	for i, e := range h.Events(5, 30*time.Second) {
		n := i + 1
		h.CheckEvent(e, "orders", "r", "null",
			fmt.Sprintf(`{"id":%d,"item":"item%d","qty":%d}`, n, n, n*10), fmt.Sprintf(`{"id":%d}`, n), true)
	}

	h.exec(`INSERT INTO orders VALUES (6, 'six', NULL)`,
		`INSERT INTO other VALUES (1)`, // not captured
		`UPDATE orders SET qty = 11 WHERE id = 1`,
		`DELETE FROM orders WHERE id = 2`,
		hs.Tx(`UPDATE orders SET id = 30 WHERE id = 3`, `INSERT INTO orders VALUES (7, 'seven', 70)`))
	ev := h.Events(5, 30*time.Second)
	h.CheckEvent(ev[0], "orders", "c", "null", `{"id":6,"item":"six","qty":null}`, `{"id":6}`, false)
	h.CheckEvent(ev[1], "orders", "u", `{"id":1,"item":"item1","qty":10}`, `{"id":1,"item":"item1","qty":11}`, `{"id":1}`, false)
	h.CheckEvent(ev[2], "orders", "d", `{"id":2,"item":"item2","qty":20}`, "null", `{"id":2}`, false)
	h.CheckEvent(ev[3], "orders", "u", `{"id":3,"item":"item3","qty":30}`, `{"id":30,"item":"item3","qty":30}`, `{"id":30}`, false)
	h.CheckEvent(ev[4], "orders", "c", "null", `{"id":7,"item":"seven","qty":70}`, `{"id":7}`, false)
	// Two events of one transaction: same position, consecutive index.
	if a, b := ev[3].ID(), ev[4].ID(); !strings.HasSuffix(a, ":0") || !strings.HasSuffix(b, ":1") ||
		strings.TrimSuffix(a, "0") != strings.TrimSuffix(b, "1") {
		t.Errorf("ids within one transaction: %q, %q", a, b)
	}
	h.NoMore(300 * time.Millisecond)
	h.checkMetrics(map[string]float64{"r": 5, "c": 2, "u": 2, "d": 1})

	// A truncate and schema changes while streaming.
	ddl := []string{`TRUNCATE orders`, `ALTER TABLE orders ADD COLUMN note text DEFAULT 'n/a'`, `ALTER TABLE orders DROP COLUMN qty`}
	h.exec(ddl[0], ddl[1], `INSERT INTO orders (id, item) VALUES (8, 'eight')`, ddl[2], `INSERT INTO orders VALUES (9, 'nine', 'x')`)
	h.nextDDL(ddl[0])
	h.CheckEvent(h.Events(1, 30*time.Second)[0], "orders", "t", "null", "null", "null", false)
	h.nextDDL(ddl[1])
	h.CheckEvent(h.Events(1, 30*time.Second)[0], "orders", "c", "null", `{"id":8,"item":"eight","qty":null,"note":"n/a"}`, `{"id":8}`, false)
	h.nextDDL(ddl[2])
	h.CheckEvent(h.Events(1, 30*time.Second)[0], "orders", "c", "null", `{"id":9,"item":"nine","note":"x"}`, `{"id":9}`, false)
	h.NoMore(500 * time.Millisecond)
	h.checkMetrics(map[string]float64{"r": 5, "c": 4, "u": 2, "d": 1, "t": 1})
	if got := h.Metric("ficus_capture_last_event_timestamp_seconds", nil); got < float64(time.Now().Add(-time.Hour).Unix()) {
		t.Errorf("last event timestamp %v", got)
	}
	hs.CheckLag(h)
}

// checkMetrics compares the events counted on the orders table, by op, and
// the rows its snapshot read.
func (h *H[D]) checkMetrics(events map[string]float64) {
	h.T.Helper()
	table := h.hs.Schema + ".orders"
	type series struct {
		name   string
		labels map[string]string
		want   float64
	}
	all := []series{{"ficus_capture_snapshot_rows_done", map[string]string{"table": table}, 5}}
	for op, n := range events {
		all = append(all, series{"ficus_capture_events_total", map[string]string{"table": table, "op": op}, n})
	}
	for _, m := range all {
		if got := h.Metric(m.name, m.labels); got != m.want {
			h.T.Errorf("%s%v = %v, want %v", m.name, m.labels, got, m.want)
		}
	}
}

// nextDDL checks the next event is the schema change ddl, for a reader that
// publishes them.
func (h *H[D]) nextDDL(ddl string) {
	h.T.Helper()
	if h.hs.PublishesDDL {
		h.CheckDDL(h.Events(1, 30*time.Second)[0], ddl)
	} else if h.hs.SchemaEvents != nil {
		h.hs.SchemaEvents(h, ddl)
	}
}

func (h *H[D]) fullBefore(table string) {
	h.T.Helper()
	if h.hs.FullBefore != nil {
		h.exec(h.hs.FullBefore(table)...)
	}
}

// restarts: a reader restart, a database restart and a NATS outage while
// streaming lose nothing and put nothing twice into the stream, and nothing is
// confirmed before JetStream holds it.
func restarts[D DB](h *H[D]) {
	t, hs := h.T, h.hs
	h.exec(`CREATE TABLE items (id int PRIMARY KEY)`)
	h.StartSource()
	h.InsertItems(1)
	h.ExpectInserts(h.Events(1, 30*time.Second), 1)
	hs.WaitConfirmed(h)

	// Reader restarted; changes made meanwhile arrive once.
	h.Stop()
	h.InsertItems(2, 3, 4)
	h.StartSource()
	h.ExpectInserts(h.Events(3, 30*time.Second), 2, 3, 4)

	// Database restarted while streaming.
	h.DB.Restart(t)
	h.InsertItems(5)
	h.ExpectInserts(h.Events(1, 30*time.Second), 5)
	hs.WaitConfirmed(h)
	h.NoMore(300 * time.Millisecond)

	// NATS down: nothing can be acknowledged, so nothing new may be
	// confirmed; publishing stalls (bounded by MaxPending), then resumes.
	held := func() { time.Sleep(2 * time.Second) }
	if hs.HoldBack != nil {
		held = hs.HoldBack(h)
	}
	h.NATS.Stop(t)
	h.InsertItems(6, 7, 8)
	held()
	h.NATS.Restart(t)
	h.ExpectInserts(h.Events(3, 60*time.Second), 6, 7, 8)
	h.NoMore(time.Second)

	// Once acknowledged, they are confirmed.
	hs.WaitConfirmed(h)
	h.Stop()
	if testing.Verbose() || strings.Contains(h.Logs(), "level=ERROR") {
		t.Logf("logs:\n%s", h.Logs())
	}
}

// types: every case of the value mapping contract, through the snapshot (row
// 1), the stream (row 2) and an update's before image, which share one
// converter.
func types[D DB](h *H[D]) {
	t, ty := h.T, h.hs.Types
	h.exec(ty.Setup...)
	cols := make([]string, len(ty.Cases))
	lits := make([]string, len(ty.Cases))
	for i, c := range ty.Cases {
		cols[i] = fmt.Sprintf("c%d %s", i, c.Type)
		lits[i] = c.Literal
	}
	h.exec(ty.Create(cols))
	h.fullBefore("types")
	h.exec(ty.Insert(1, lits))
	h.StartSource()
	snap := h.Events(1, 30*time.Second)[0]
	h.exec(ty.Insert(2, lits))
	live := h.Events(1, 30*time.Second)[0]
	if snap.Op() != "r" || live.Op() != "c" {
		t.Errorf("ops %s, %s; want r, c", snap.Op(), live.Op())
	}
	for _, e := range []Event{snap, live} {
		var after map[string]json.RawMessage
		if err := json.Unmarshal(e.Fields["after"], &after); err != nil {
			t.Fatal(err)
		}
		for i, c := range ty.Cases {
			if got := string(after[fmt.Sprintf("c%d", i)]); c.Want != "" && got != c.Want {
				t.Errorf("%s (op %s) %s = %s, want %s", c.Type, e.Op(), c.Literal, got, c.Want)
			}
		}
		if ty.Golden != "" {
			update := ty.Update != nil && *ty.Update && e.Op() == "r"
			if err := checkGolden(ty.Golden, update, ty.Cases, e.Fields["after"]); err != nil {
				t.Errorf("op %s: %v", e.Op(), err)
			}
		}
	}
	// The update's before image decodes the same way.
	h.exec("UPDATE types SET id = 3 WHERE id = 2")
	u := h.Events(1, 30*time.Second)[0]
	if string(u.Fields["before"]) != string(live.Fields["after"]) {
		t.Errorf("update before %s\n want %s", u.Fields["before"], live.Fields["after"])
	}
}

// missingTable: a configured table that does not exist stops the reader with
// a permanent error naming it.
func missingTable[D DB](h *H[D]) {
	src := h.NewSource(h.hs.Schema + ".missing")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	want := "table " + h.hs.Schema + ".missing not found"
	if err := src.Run(ctx); !capture.IsPermanent(err) || !strings.Contains(err.Error(), want) {
		h.T.Fatalf("Run: %v, want a permanent %q error", err, want)
	}
}
