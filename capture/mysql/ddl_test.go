package mysql

import (
	"testing"
	"time"
)

func checkDDL(t *testing.T, e event, ddl string) {
	t.Helper()
	if e.Subject != "ficus.cdc.legacy._ddl" {
		t.Fatalf("subject %q, want the ddl subject: %s", e.Subject, e.Raw)
	}
	if got := e.Env["ddl"]; got != ddl {
		t.Errorf("ddl %q, want %q", got, ddl)
	}
	if e.Env["schema"] != "ficus" || e.source()["connector"] != "mysql" || e.source()["gtid"] == "" {
		t.Errorf("ddl event %s", e.Raw)
	}
	if e.Header.Get("ce-type") != "io.ficus.cdc.ddl" || e.Header.Get("Nats-Msg-Id") == "" {
		t.Errorf("ddl headers %v", e.Header)
	}
}

// TestDDLWhileStreaming: rows after a schema change decode with the new
// shape, rows written before it with the old one (even when read after it),
// and every DDL is published on the _ddl subject.
func TestDDLWhileStreaming(t *testing.T) {
	h := newHarness(t)
	h.db.Exec(t, `CREATE TABLE t (id int PRIMARY KEY, a int)`)
	h.start(h.config())

	steps := []struct{ ddl, insert string }{
		{"ALTER TABLE t ADD COLUMN b varchar(5) DEFAULT 'x'", "INSERT INTO t VALUES (1, 1, '5')"},
		{"ALTER TABLE t DROP COLUMN a", "INSERT INTO t VALUES (2, '6')"},
		{"ALTER TABLE t MODIFY COLUMN b int", "INSERT INTO t VALUES (3, 7)"},
		{"RENAME TABLE t TO t2", "INSERT INTO t2 VALUES (4, 8)"},
	}
	for _, s := range steps {
		h.db.Exec(t, s.ddl)
		h.db.Exec(t, s.insert)
	}
	h.db.Exec(t, "TRUNCATE TABLE t2")
	ev := h.events(10, 30*time.Second)
	checkDDL(t, ev[0], steps[0].ddl)
	checkEvent(t, ev[1], "t", "c", "null", `{"id":1,"a":1,"b":"5"}`, `{"id":1}`, false)
	checkDDL(t, ev[2], steps[1].ddl)
	checkEvent(t, ev[3], "t", "c", "null", `{"id":2,"b":"6"}`, `{"id":2}`, false)
	checkDDL(t, ev[4], steps[2].ddl)
	checkEvent(t, ev[5], "t", "c", "null", `{"id":3,"b":7}`, `{"id":3}`, false)
	checkDDL(t, ev[6], steps[3].ddl)
	checkEvent(t, ev[7], "t2", "c", "null", `{"id":4,"b":8}`, `{"id":4}`, false)
	checkDDL(t, ev[8], "TRUNCATE TABLE t2")
	checkEvent(t, ev[9], "t2", "t", "null", "null", "null", false)

	// Written with the old shape, read after the change: still the old shape.
	h.stop()
	h.db.Exec(t, "INSERT INTO t2 VALUES (5, 9)")
	h.db.Exec(t, "ALTER TABLE t2 ADD COLUMN c int DEFAULT 1 FIRST")
	h.db.Exec(t, "INSERT INTO t2 VALUES (2, 6, 10)")
	h.start(h.config())
	ev = h.events(3, 30*time.Second)
	checkEvent(t, ev[0], "t2", "c", "null", `{"id":5,"b":9}`, `{"id":5}`, false)
	checkDDL(t, ev[1], "ALTER TABLE t2 ADD COLUMN c int DEFAULT 1 FIRST")
	checkEvent(t, ev[2], "t2", "c", "null", `{"c":2,"id":6,"b":10}`, `{"id":6}`, false)
	h.noMore(300 * time.Millisecond)
}
