package postgres

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
)

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkEvent compares op, before, after and key as JSON, and the fixed parts
// of source and the headers.
func checkEvent(t *testing.T, e event, table, op, before, after, key string, snapshot bool) {
	t.Helper()
	id := e.Header.Get("Nats-Msg-Id")
	if e.op() != op {
		t.Fatalf("event %s: op %q, want %q: %s", id, e.op(), op, e.Raw)
	}
	for _, f := range []struct{ name, want string }{{"before", before}, {"after", after}, {"key", key}} {
		if got := string(e.Fields[f.name]); got != f.want {
			t.Errorf("event %s %s: %s\n want %s", id, f.name, got, f.want)
		}
	}
	if want := "ficus.cdc.legacy.public." + table; e.Subject != want {
		t.Errorf("event %s: subject %q, want %q", id, e.Subject, want)
	}
	src := e.source()
	for k, want := range map[string]any{"connector": "postgresql", "name": "legacy", "db": "ficus", "schema": "public",
		"table": table, "snapshot": snapshot} {
		if src[k] != want {
			t.Errorf("event %s: source.%s = %v, want %v", id, k, src[k], want)
		}
	}
	for _, k := range []string{"lsn", "commit_lsn"} {
		if _, err := pglogrepl.ParseLSN(fmt.Sprint(src[k])); err != nil {
			t.Errorf("event %s: source.%s = %v: %v", id, k, src[k], err)
		}
	}
	if !snapshot {
		if n, _ := src["tx_id"].(json.Number).Int64(); n <= 0 {
			t.Errorf("event %s: source.tx_id = %v", id, src["tx_id"])
		}
		wantPrefix := fmt.Sprintf("legacy:%s:", src["commit_lsn"])
		if !strings.HasPrefix(id, wantPrefix) {
			t.Errorf("event id %q, want prefix %q", id, wantPrefix)
		}
	} else if !strings.HasPrefix(id, "legacy:snap:public."+table+":") {
		t.Errorf("snapshot event id %q", id)
	}
	for _, k := range []string{"ts_ms"} {
		if n, _ := e.Env[k].(json.Number).Int64(); n < time.Now().Add(-time.Hour).UnixMilli() {
			t.Errorf("event %s: ts_ms %v", id, e.Env[k])
		}
		if n, _ := src[k].(json.Number).Int64(); n < time.Now().Add(-time.Hour).UnixMilli() {
			t.Errorf("event %s: source.ts_ms %v", id, src[k])
		}
	}
	opName := map[string]string{"c": "create", "u": "update", "d": "delete", "r": "read", "t": "truncate"}[op]
	for k, want := range map[string]string{"ce-specversion": "1.0", "ce-id": id, "ce-source": "/ficus/legacy",
		"ce-type": "io.ficus.cdc." + opName} {
		if got := e.Header.Get(k); got != want {
			t.Errorf("event %s: header %s = %q, want %q", id, k, got, want)
		}
	}
	if _, err := time.Parse(time.RFC3339, e.Header.Get("ce-time")); err != nil {
		t.Errorf("event %s: ce-time: %v", id, err)
	}
}

func TestSnapshotThenStreaming(t *testing.T) {
	h := newHarness(t)
	h.pg.Exec(t, `CREATE TABLE orders (id int PRIMARY KEY, item text NOT NULL, qty int)`)
	h.pg.Exec(t, `ALTER TABLE orders REPLICA IDENTITY FULL`)
	h.pg.Exec(t, `INSERT INTO orders SELECT g, 'item'||g, g*10 FROM generate_series(1,5) g`)
	h.start(h.config())

	// Snapshot: in primary key order, across two keyset pages (chunk size 3).
	for i, e := range h.events(5, 30*time.Second) {
		n := i + 1
		checkEvent(t, e, "orders", "r", "null",
			fmt.Sprintf(`{"id":%d,"item":"item%d","qty":%d}`, n, n, n*10), fmt.Sprintf(`{"id":%d}`, n), true)
	}

	h.pg.Exec(t, `INSERT INTO orders VALUES (6, 'six', NULL)`)
	h.pg.Exec(t, `UPDATE orders SET qty = 11 WHERE id = 1`)
	h.pg.Exec(t, `DELETE FROM orders WHERE id = 2`)
	h.pg.Exec(t, `BEGIN; UPDATE orders SET id = 30 WHERE id = 3; INSERT INTO orders VALUES (7, 'seven', 70); COMMIT`)
	h.pg.Exec(t, `TRUNCATE orders`)
	ev := h.events(6, 30*time.Second)
	checkEvent(t, ev[0], "orders", "c", "null", `{"id":6,"item":"six","qty":null}`, `{"id":6}`, false)
	checkEvent(t, ev[1], "orders", "u", `{"id":1,"item":"item1","qty":10}`, `{"id":1,"item":"item1","qty":11}`, `{"id":1}`, false)
	checkEvent(t, ev[2], "orders", "d", `{"id":2,"item":"item2","qty":20}`, "null", `{"id":2}`, false)
	checkEvent(t, ev[3], "orders", "u", `{"id":3,"item":"item3","qty":30}`, `{"id":30,"item":"item3","qty":30}`, `{"id":30}`, false)
	checkEvent(t, ev[4], "orders", "c", "null", `{"id":7,"item":"seven","qty":70}`, `{"id":7}`, false)
	checkEvent(t, ev[5], "orders", "t", "null", "null", "null", false)
	// Two events of one transaction: same commit position, consecutive index.
	if a, b := ev[3].Header.Get("Nats-Msg-Id"), ev[4].Header.Get("Nats-Msg-Id"); !strings.HasSuffix(a, ":0") || !strings.HasSuffix(b, ":1") ||
		strings.TrimSuffix(a, "0") != strings.TrimSuffix(b, "1") {
		t.Errorf("ids within one transaction: %q, %q", a, b)
	}

	// Schema change while streaming.
	h.pg.Exec(t, `ALTER TABLE orders ADD COLUMN note text DEFAULT 'n/a'`)
	h.pg.Exec(t, `INSERT INTO orders (id, item) VALUES (8, 'eight')`)
	h.pg.Exec(t, `ALTER TABLE orders DROP COLUMN qty`)
	h.pg.Exec(t, `INSERT INTO orders VALUES (9, 'nine', 'x')`)
	ev = h.events(2, 30*time.Second)
	checkEvent(t, ev[0], "orders", "c", "null", `{"id":8,"item":"eight","qty":null,"note":"n/a"}`, `{"id":8}`, false)
	checkEvent(t, ev[1], "orders", "c", "null", `{"id":9,"item":"nine","note":"x"}`, `{"id":9}`, false)
	h.noMore(500 * time.Millisecond)

	for _, m := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"ficus_capture_events_total", map[string]string{"table": "public.orders", "op": "r"}, 5},
		{"ficus_capture_events_total", map[string]string{"table": "public.orders", "op": "c"}, 4},
		{"ficus_capture_events_total", map[string]string{"table": "public.orders", "op": "t"}, 1},
		{"ficus_capture_snapshot_rows_done", map[string]string{"table": "public.orders"}, 5},
	} {
		if got := h.metric(m.name, m.labels); got != m.want {
			t.Errorf("%s%v = %v, want %v", m.name, m.labels, got, m.want)
		}
	}
	if got := h.metric("ficus_capture_last_event_timestamp_seconds", nil); got < float64(time.Now().Add(-time.Hour).Unix()) {
		t.Errorf("last event timestamp %v", got)
	}
	if got := h.metric("ficus_capture_slot_lag_bytes", nil); got < 0 {
		t.Errorf("slot lag metric missing")
	}
}
