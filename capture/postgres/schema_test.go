package postgres

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/capture/capturetest"
	"github.com/ficus-migrate/ficus/capture/mask"
)

// Column lists of the conformance table orders around the schema changes of
// the SnapshotThenStreaming scenario.
var (
	ordersV1 = `[{"name":"id","type":"integer"},{"name":"item","type":"character varying(20)"},{"name":"qty","type":"integer"}]`
	ordersV2 = `[{"name":"id","type":"integer"},{"name":"item","type":"character varying(20)"},{"name":"qty","type":"integer"},{"name":"note","type":"text"}]`
	ordersV3 = `[{"name":"id","type":"integer"},{"name":"item","type":"character varying(20)"},{"name":"note","type":"text"}]`
)

// schemaEvents checks the schema event PostgreSQL publishes for a statement
// of the conformance scenario: a column change is published when pgoutput
// sends the changed Relation, i.e. right before the first change of the new
// shape, which the scenario runs right after the statement. A TRUNCATE
// changes no column and publishes nothing.
func schemaEvents(h *harness, ddl string) {
	h.T.Helper()
	var before, after string
	switch {
	case strings.Contains(ddl, "ADD COLUMN note"):
		before, after = ordersV1, ordersV2
	case strings.Contains(ddl, "DROP COLUMN qty"):
		before, after = ordersV2, ordersV3
	default:
		return
	}
	checkSchemaEvent(h, h.Events(1, 30*time.Second)[0], "orders", before, after)
}

// checkSchemaEvent checks e is the schema event of table with the column
// lists before and after (JSON).
func checkSchemaEvent(h *harness, e capturetest.Event, table, before, after string) {
	t := h.T
	t.Helper()
	if want := "ficus.cdc." + capturetest.SourceName + "._ddl"; e.Subject != want {
		t.Fatalf("subject %q, want the ddl subject: %s", e.Subject, e.Raw)
	}
	var body struct {
		DDL     *string `json:"ddl"`
		Schema  string  `json:"schema"`
		Table   string  `json:"table"`
		Columns struct {
			Before, After json.RawMessage
		} `json:"columns"`
	}
	if err := json.Unmarshal(e.Raw, &body); err != nil {
		t.Fatalf("ddl event %s: %v", e.Raw, err)
	}
	if body.DDL != nil || body.Schema != "public" || body.Table != table ||
		string(body.Columns.Before) != before || string(body.Columns.After) != after {
		t.Errorf("ddl event %s\nwant columns before %s\n              after %s", e.Raw, before, after)
	}
	src, id := e.Source(), e.ID()
	if src["connector"] != "postgresql" || src["table"] != table {
		t.Errorf("ddl event source %v", src)
	}
	checkPosition(t, e, false)
	if want := fmt.Sprintf(":ddl:%s:%s", h.DB.QueryString(t, `SELECT $1::regclass::oid::text`, "public."+table), src["lsn"]); !strings.HasSuffix(id, want) {
		t.Errorf("ddl event id %q, want suffix %q", id, want)
	}
	if e.Header.Get("ce-type") != "io.ficus.cdc.ddl" || e.Header.Get("ce-id") != id {
		t.Errorf("ddl headers %v", e.Header)
	}
}

// TestSchemaEventsMaskedAndRestart: the names and types of an excluded column
// are in no schema event (a change of only that column publishes none), a
// retyped column is published, and the first Relation after a restart is not
// a change even when the table changed while the reader was down.
func TestSchemaEventsMaskedAndRestart(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.DB.Exec(t, `CREATE TABLE acct (id int PRIMARY KEY, ssn text, name text)`)
	m, err := mask.New(mask.Config{Secret: []byte(capturetest.MaskSecret), Tables: map[string]mask.Table{
		"public.acct": {Exclude: []string{"ssn"}, Mask: map[string]mask.Spec{"name": {Kind: mask.Hash}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	h.Mask = m
	h.StartSource("public.acct")
	var all []capturetest.Event
	next := func(ops ...string) {
		t.Helper()
		for _, e := range h.Events(len(ops), 30*time.Second) {
			op := e.Op()
			if strings.HasSuffix(e.Subject, "._ddl") {
				op = "ddl"
			}
			if op != ops[0] {
				t.Fatalf("event %s %s, want %s", e.ID(), e.Raw, ops[0])
			}
			ops = ops[1:]
			all = append(all, e)
		}
	}
	h.DB.Exec(t, `INSERT INTO acct VALUES (1, 'SSN-1', 'a')`)
	next("c") // the first Relation of the session
	h.DB.Exec(t, `ALTER TABLE acct ALTER COLUMN ssn TYPE varchar(11)`)
	h.DB.Exec(t, `INSERT INTO acct VALUES (2, 'SSN-2', 'b')`)
	next("c") // only the excluded column changed
	h.DB.Exec(t, `ALTER TABLE acct ALTER COLUMN name TYPE varchar(30)`)
	h.DB.Exec(t, `INSERT INTO acct VALUES (3, 'SSN-3', 'c')`)
	next("ddl", "c")
	checkSchemaEvent(h, all[2], "acct", `[{"name":"id","type":"integer"},{"name":"name","type":"text"}]`,
		`[{"name":"id","type":"integer"},{"name":"name","type":"character varying(30)"}]`)

	h.Stop()
	h.DB.Exec(t, `ALTER TABLE acct ADD COLUMN note text`)
	h.StartSource("public.acct")
	h.DB.Exec(t, `INSERT INTO acct VALUES (4, 'SSN-4', 'd', 'n')`)
	next("c")
	if !strings.Contains(string(all[4].Raw), `"note":"n"`) {
		t.Errorf("event after restart %s, want the new column", all[4].Raw)
	}
	h.NoMore(300 * time.Millisecond)
	for _, e := range all {
		if raw := append([]byte(e.Subject), e.Raw...); bytes.Contains(raw, []byte("ssn")) || bytes.Contains(raw, []byte("SSN")) {
			t.Errorf("excluded column in event %s", raw)
		}
	}
}
