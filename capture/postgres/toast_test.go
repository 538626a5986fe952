package postgres

import (
	"testing"
	"time"
)

// TestToastUnchanged: an update that leaves a TOASTed value alone carries it
// with REPLICA IDENTITY FULL, and names it in source.unchanged_toast (never
// null) otherwise.
func TestToastUnchanged(t *testing.T) {
	h := newHarness(t)
	for _, tbl := range []string{"t_full", "t_default"} {
		h.DB.Exec(t, `CREATE TABLE `+tbl+` (id int PRIMARY KEY, n int, big text)`)
	}
	h.DB.Exec(t, `ALTER TABLE t_full REPLICA IDENTITY FULL`)
	h.StartSource()
	big := h.DB.QueryString(t, `SELECT string_agg(md5(g::text), '') FROM generate_series(1, 2000) g`)
	for _, tbl := range []string{"t_full", "t_default"} {
		h.DB.Exec(t, `INSERT INTO `+tbl+` VALUES (1, 1, $1)`, big)
		h.DB.Exec(t, `UPDATE `+tbl+` SET n = 2 WHERE id = 1`)
	}
	ev := h.Events(4, 30*time.Second)
	bigJSON := mustJSON(t, big)
	h.CheckEvent(ev[1], "t_full", "u", `{"id":1,"n":1,"big":`+bigJSON+`}`, `{"id":1,"n":2,"big":`+bigJSON+`}`, `{"id":1}`, false)
	if _, ok := ev[1].Source()["unchanged_toast"]; ok {
		t.Errorf("FULL identity: unexpected unchanged_toast: %s", ev[1].Fields["source"])
	}
	h.CheckEvent(ev[3], "t_default", "u", `{"id":1}`, `{"id":1,"n":2}`, `{"id":1}`, false)
	if got := mustJSON(t, ev[3].Source()["unchanged_toast"]); got != `["big"]` {
		t.Errorf("DEFAULT identity: unchanged_toast = %s, want [\"big\"]", got)
	}
}
