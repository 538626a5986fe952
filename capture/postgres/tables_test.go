package postgres

import (
	"context"
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
