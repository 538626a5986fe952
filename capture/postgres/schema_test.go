package postgres

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/ficus-migrate/ficus/capture/capturetest"
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
