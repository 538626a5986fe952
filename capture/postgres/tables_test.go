package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/capture/backfill"
	"github.com/ficus-migrate/ficus/capture/capturetest"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// TestAddedTables: a table added to a running source's tables (restart) is
// added to the publication and backfilled; one removed is no longer
// published (capturetest.RunAddedTables).
func TestAddedTables(t *testing.T) { capturetest.RunAddedTables(t, conformance, canon.Postgres) }

// TestAddedTablesListToAll: with every table configured after a table
// list, the publication keeps its list, so the other tables are not
// backfilled (they do not stream); a table the user adds to the publication
// is, at the next start.
func TestAddedTablesListToAll(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.DB.Exec(t, "CREATE TABLE a (id int PRIMARY KEY)")
	h.DB.Exec(t, "CREATE TABLE b (id int PRIMARY KEY)")
	h.DB.Exec(t, "INSERT INTO b SELECT generate_series(1, 5)")
	mgr, err := backfill.New(backfill.Config{Source: capturetest.SourceName, Dialect: canon.Postgres, JS: h.JS,
		Logger: h.Logger(), Registerer: h.Registry})
	if err != nil {
		t.Fatal(err)
	}
	h.Backfill = mgr
	h.StartSource("public.a")
	h.Stop()

	h.StartSource() // every table: the publication stays FOR TABLE a
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Queued backfills are logged before the reader streams (a 5-row one
	// would be done before a status could see it).
	if strings.Contains(h.Logs(), "backfill queued") {
		t.Fatalf("a backfill was queued at the switch to every table:\n%s", h.Logs())
	}
	if !strings.Contains(h.Logs(), "publication exists with a table list but all tables are configured") {
		t.Errorf("no warning about the publication kept as a list")
	}
	h.Stop()

	h.DB.Exec(t, "ALTER PUBLICATION "+quoteIdent("ficus_"+capturetest.SourceName)+" ADD TABLE b")
	h.StartSource()
	capturetest.WaitBackfilled(ctx, t, mgr, h.Logs)
	if got := h.Metric("ficus_capture_backfill_rows_total", map[string]string{"table": "public.b"}); got != 5 {
		t.Errorf("backfilled rows of b = %v, want 5", got)
	}
	h.Stop()
}

// TestAllTablesPublicationNarrowed: a source that captured every table (its
// publication FOR ALL TABLES, which PostgreSQL cannot turn into a list)
// restarted with a table list publishes only the listed tables and the
// partitions of a listed partitioned table.
func TestAllTablesPublicationNarrowed(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.DB.Exec(t, "CREATE TABLE a (id int PRIMARY KEY)")
	h.DB.Exec(t, "CREATE TABLE b (id int PRIMARY KEY)")
	h.DB.Exec(t, "CREATE TABLE p (id int PRIMARY KEY) PARTITION BY RANGE (id)")
	h.DB.Exec(t, "CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (1000)")
	h.StartSource() // every table: the publication is FOR ALL TABLES
	h.Stop()

	h.StartSource("public.a", "public.p")
	for _, stmt := range []string{"INSERT INTO b VALUES (1)", "INSERT INTO a VALUES (2)", "INSERT INTO b VALUES (3)",
		"INSERT INTO p VALUES (4)", "INSERT INTO b VALUES (5)", "INSERT INTO a VALUES (6)"} {
		h.DB.Exec(t, stmt)
	}
	var got []string
	for _, e := range h.Events(3, 30*time.Second) {
		src, _ := e.Env["source"].(map[string]any)
		after, _ := e.Env["after"].(map[string]any)
		got = append(got, fmt.Sprintf("%v %v %v", src["table"], e.Op(), after["id"]))
	}
	if want := []string{"a c 2", "p1 c 4", "a c 6"}; !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	h.NoMore(time.Second)
	if !strings.Contains(h.Logs(), "the reader publishes only the configured tables") {
		t.Errorf("no warning about the FOR ALL TABLES publication kept")
	}
}
