package mysql

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

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
	if want := "ficus.cdc.legacy.ficus." + table; e.Subject != want {
		t.Errorf("event %s: subject %q, want %q", id, e.Subject, want)
	}
	src := e.source()
	for k, want := range map[string]any{"connector": "mysql", "name": "legacy", "db": "ficus", "schema": "ficus",
		"table": table, "snapshot": snapshot} {
		if src[k] != want {
			t.Errorf("event %s: source.%s = %v, want %v", id, k, src[k], want)
		}
	}
	if f, _ := src["file"].(string); !strings.HasPrefix(f, "binlog.") {
		t.Errorf("event %s: source.file = %v", id, src["file"])
	}
	if n, _ := src["pos"].(json.Number).Int64(); n < 4 {
		t.Errorf("event %s: source.pos = %v", id, src["pos"])
	}
	gtid, _ := src["gtid"].(string)
	if !snapshot {
		if !regexp.MustCompile(`^0-\d+-\d+$`).MatchString(gtid) {
			t.Errorf("event %s: source.gtid = %q", id, gtid)
		}
		if n, _ := src["server_id"].(json.Number).Int64(); n <= 0 {
			t.Errorf("event %s: source.server_id = %v", id, src["server_id"])
		}
		if wantPrefix := "legacy:" + gtid + ":"; !strings.HasPrefix(id, wantPrefix) {
			t.Errorf("event id %q, want prefix %q", id, wantPrefix)
		}
	} else if !strings.HasPrefix(id, "legacy:snap:ficus."+table+":") {
		t.Errorf("snapshot event id %q", id)
	}
	if n, _ := e.Env["ts_ms"].(json.Number).Int64(); n < time.Now().Add(-time.Hour).UnixMilli() {
		t.Errorf("event %s: ts_ms %v", id, e.Env["ts_ms"])
	}
	if n, _ := src["ts_ms"].(json.Number).Int64(); n < time.Now().Add(-time.Hour).UnixMilli() {
		t.Errorf("event %s: source.ts_ms %v", id, src["ts_ms"])
	}
	opName := map[string]string{"c": "create", "u": "update", "d": "delete", "r": "read", "t": "truncate"}[op]
	for k, want := range map[string]string{"ce-specversion": "1.0", "ce-id": id, "ce-source": "/ficus/legacy",
		"ce-type": "io.ficus.cdc." + opName, "ce-subject": "ficus." + table, "content-type": "application/json"} {
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
	h.db.Exec(t, `CREATE TABLE orders (id int PRIMARY KEY, item varchar(20) NOT NULL, qty int)`)
	h.db.Exec(t, `CREATE TABLE other (id int PRIMARY KEY)`)
	h.db.Exec(t, `INSERT INTO orders VALUES (1,'item1',10),(2,'item2',20),(3,'item3',30),(4,'item4',40),(5,'item5',50)`)
	cfg := h.config()
	cfg.Tables = []string{"ficus.orders"}
	h.start(cfg)

	// Snapshot: in primary key order, across two keyset pages (chunk size 3).
	for i, e := range h.events(5, 30*time.Second) {
		n := i + 1
		checkEvent(t, e, "orders", "r", "null",
			fmt.Sprintf(`{"id":%d,"item":"item%d","qty":%d}`, n, n, n*10), fmt.Sprintf(`{"id":%d}`, n), true)
	}

	h.db.Exec(t, `INSERT INTO orders VALUES (6, 'six', NULL)`)
	h.db.Exec(t, `INSERT INTO other VALUES (1)`) // not captured
	h.db.Exec(t, `UPDATE orders SET qty = 11 WHERE id = 1`)
	h.db.Exec(t, `DELETE FROM orders WHERE id = 2`)
	h.db.Exec(t, `BEGIN NOT ATOMIC START TRANSACTION; UPDATE orders SET id = 30 WHERE id = 3; INSERT INTO orders VALUES (7, 'seven', 70); COMMIT; END`)
	ev := h.events(5, 30*time.Second)
	checkEvent(t, ev[0], "orders", "c", "null", `{"id":6,"item":"six","qty":null}`, `{"id":6}`, false)
	checkEvent(t, ev[1], "orders", "u", `{"id":1,"item":"item1","qty":10}`, `{"id":1,"item":"item1","qty":11}`, `{"id":1}`, false)
	checkEvent(t, ev[2], "orders", "d", `{"id":2,"item":"item2","qty":20}`, "null", `{"id":2}`, false)
	checkEvent(t, ev[3], "orders", "u", `{"id":3,"item":"item3","qty":30}`, `{"id":30,"item":"item3","qty":30}`, `{"id":30}`, false)
	checkEvent(t, ev[4], "orders", "c", "null", `{"id":7,"item":"seven","qty":70}`, `{"id":7}`, false)
	// Two events of one transaction: same GTID, consecutive index.
	if a, b := ev[3].Header.Get("Nats-Msg-Id"), ev[4].Header.Get("Nats-Msg-Id"); !strings.HasSuffix(a, ":0") || !strings.HasSuffix(b, ":1") ||
		strings.TrimSuffix(a, "0") != strings.TrimSuffix(b, "1") {
		t.Errorf("ids within one transaction: %q, %q", a, b)
	}
	h.noMore(300 * time.Millisecond)

	for _, m := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"ficus_capture_events_total", map[string]string{"table": "ficus.orders", "op": "r"}, 5},
		{"ficus_capture_events_total", map[string]string{"table": "ficus.orders", "op": "c"}, 2},
		{"ficus_capture_events_total", map[string]string{"table": "ficus.orders", "op": "u"}, 2},
		{"ficus_capture_events_total", map[string]string{"table": "ficus.orders", "op": "d"}, 1},
		{"ficus_capture_snapshot_rows_done", map[string]string{"table": "ficus.orders"}, 5},
	} {
		if got := h.metric(m.name, m.labels); got != m.want {
			t.Errorf("%s%v = %v, want %v", m.name, m.labels, got, m.want)
		}
	}
	if got := h.metric("ficus_capture_last_event_timestamp_seconds", nil); got < float64(time.Now().Add(-time.Hour).Unix()) {
		t.Errorf("last event timestamp %v", got)
	}
	if got := h.metric("ficus_capture_lag_seconds", nil); got < 0 || got > 60 {
		t.Errorf("lag seconds %v", got)
	}
}
