package mysql

import (
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/capture/capturetest"
)

// checkDDL checks a DDL event and that it carries its GTID.
func checkDDL(h *harness, e capturetest.Event, ddl string) {
	h.T.Helper()
	h.CheckDDL(e, ddl)
	if e.Source()["gtid"] == "" {
		h.T.Errorf("ddl event %s", e.Raw)
	}
}

// TestDDLWhileStreaming: rows after a schema change decode with the new
// shape, rows written before it with the old one (even when read after it),
// and every DDL is published on the _ddl subject.
func TestDDLWhileStreaming(t *testing.T) {
	h := newHarness(t)
	h.DB.Exec(t, `CREATE TABLE t (id int PRIMARY KEY, a int)`)
	h.StartSource()

	steps := []struct{ ddl, insert string }{
		{"ALTER TABLE t ADD COLUMN b varchar(5) DEFAULT 'x'", "INSERT INTO t VALUES (1, 1, '5')"},
		{"ALTER TABLE t DROP COLUMN a", "INSERT INTO t VALUES (2, '6')"},
		{"ALTER TABLE t MODIFY COLUMN b int", "INSERT INTO t VALUES (3, 7)"},
		{"RENAME TABLE t TO t2", "INSERT INTO t2 VALUES (4, 8)"},
	}
	for _, s := range steps {
		h.DB.Exec(t, s.ddl)
		h.DB.Exec(t, s.insert)
	}
	h.DB.Exec(t, "TRUNCATE TABLE t2")
	ev := h.Events(10, 30*time.Second)
	checkDDL(h, ev[0], steps[0].ddl)
	h.CheckEvent(ev[1], "t", "c", "null", `{"id":1,"a":1,"b":"5"}`, `{"id":1}`, false)
	checkDDL(h, ev[2], steps[1].ddl)
	h.CheckEvent(ev[3], "t", "c", "null", `{"id":2,"b":"6"}`, `{"id":2}`, false)
	checkDDL(h, ev[4], steps[2].ddl)
	h.CheckEvent(ev[5], "t", "c", "null", `{"id":3,"b":7}`, `{"id":3}`, false)
	checkDDL(h, ev[6], steps[3].ddl)
	h.CheckEvent(ev[7], "t2", "c", "null", `{"id":4,"b":8}`, `{"id":4}`, false)
	checkDDL(h, ev[8], "TRUNCATE TABLE t2")
	h.CheckEvent(ev[9], "t2", "t", "null", "null", "null", false)

	// Written with the old shape, read after the change: still the old shape.
	h.Stop()
	h.DB.Exec(t, "INSERT INTO t2 VALUES (5, 9)")
	h.DB.Exec(t, "ALTER TABLE t2 ADD COLUMN c int DEFAULT 1 FIRST")
	h.DB.Exec(t, "INSERT INTO t2 VALUES (2, 6, 10)")
	h.StartSource()
	ev = h.Events(3, 30*time.Second)
	h.CheckEvent(ev[0], "t2", "c", "null", `{"id":5,"b":9}`, `{"id":5}`, false)
	checkDDL(h, ev[1], "ALTER TABLE t2 ADD COLUMN c int DEFAULT 1 FIRST")
	h.CheckEvent(ev[2], "t2", "c", "null", `{"c":2,"id":6,"b":10}`, `{"id":6}`, false)
	h.NoMore(300 * time.Millisecond)
}
