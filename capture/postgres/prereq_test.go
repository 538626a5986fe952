package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/capture"
)

func TestPrerequisites(t *testing.T) {
	h := newHarness(t)
	h.DB.Exec(t, `CREATE TABLE nopk (a int)`)
	h.DB.Exec(t, `CREATE TABLE withpk (id int PRIMARY KEY)`)

	cfg := config(h)
	cfg.Tables = []string{"public.nopk"}
	src, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = src.Run(ctx)
	if !capture.IsPermanent(err) || !strings.Contains(err.Error(),
		"table public.nopk has no primary key and REPLICA IDENTITY DEFAULT: updates and deletes cannot be captured") {
		t.Fatalf("Run: %v, want a permanent missing-primary-key error", err)
	}

	// A role without REPLICATION is refused with the statement that fixes it.
	h.DB.Exec(t, `CREATE ROLE app LOGIN`)
	h.DB.Exec(t, `GRANT SELECT ON ALL TABLES IN SCHEMA public TO app`)
	noRepl := cfg
	noRepl.DSN = strings.Replace(h.DB.DSN(), "://ficus@", "://app@", 1)
	noRepl.Tables = []string{"public.withpk"}
	src, _ = New(noRepl)
	if err := src.Run(ctx); !capture.IsPermanent(err) || !strings.Contains(err.Error(), `role "app" lacks the REPLICATION attribute (ALTER ROLE "app" REPLICATION)`) {
		t.Fatalf("Run as a role without REPLICATION: %v", err)
	}

	h.StartSource("public.withpk")
	h.DB.Exec(t, `INSERT INTO withpk VALUES (1)`)
	h.Events(1, 30*time.Second)
	if logs := h.Logs(); !strings.Contains(logs, "does not have REPLICA IDENTITY FULL: updates and deletes carry only the key columns in before") ||
		!strings.Contains(logs, "table=public.withpk") {
		t.Errorf("missing replica identity warning in logs:\n%s", logs)
	}

	for _, bad := range []Config{{Name: "Bad Name", DSN: "x", NATS: h.Conn}, {Name: "ok", NATS: h.Conn}, {Name: "ok", DSN: "x"},
		{Name: "ok", DSN: h.DB.DSN(), NATS: h.Conn, Snapshot: "always"}, {Name: "ok", DSN: h.DB.DSN(), NATS: h.Conn, Tables: []string{"nodot"}}} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%+v): no error", bad)
		}
	}
}
