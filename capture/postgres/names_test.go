package postgres

import (
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/capture/capturetest"
)

// TestDottedSchema: a schema whose name holds a dot (which the config cannot
// list, so it is captured by a source of all tables) and a table and
// columns named with a space, '$', a hyphen, mixed case and non-ASCII arrive
// on the documented subject with the real names in source.
func TestDottedSchema(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.DB.Exec(t, `CREATE SCHEMA "My.Schema"`)
	h.DB.Exec(t, `CREATE TABLE "My.Schema"."Tab le-$é" ("Id Col" int PRIMARY KEY, "v.1$" text)`)
	h.DB.Exec(t, `INSERT INTO "My.Schema"."Tab le-$é" VALUES (1, 'snap')`)
	h.StartSource()
	h.DB.Exec(t, `INSERT INTO "My.Schema"."Tab le-$é" VALUES (2, 'live')`)
	const subj = "ficus.cdc." + capturetest.SourceName + ".My%2ESchema.Tab%20le-%24%C3%A9"
	for i, e := range h.Events(2, 30*time.Second) {
		src := e.Source()
		if e.Subject != subj || src["schema"] != "My.Schema" || src["table"] != "Tab le-$é" {
			t.Errorf("event %d: subject %q, source.schema %v, source.table %v; want %q, My.Schema, Tab le-$é",
				i, e.Subject, src["schema"], src["table"], subj)
		}
		want := map[int]string{0: `{"Id Col":1,"v.1$":"snap"}`, 1: `{"Id Col":2,"v.1$":"live"}`}[i]
		if got := string(e.Fields["after"]); got != want {
			t.Errorf("event %d: after %s, want %s", i, got, want)
		}
	}
}
