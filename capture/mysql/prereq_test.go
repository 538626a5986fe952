package mysql

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/capture"
)

func (h *harness) runErr(cfg Config) error {
	h.t.Helper()
	src, err := New(cfg)
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return src.Run(ctx)
}

func TestPrerequisites(t *testing.T) {
	h := newHarness(t)
	h.db.Exec(t, `CREATE TABLE items (id int PRIMARY KEY)`)
	for _, c := range []struct{ set, reset, want string }{
		{"SET GLOBAL binlog_format='STATEMENT'", "SET GLOBAL binlog_format='ROW'", "binlog_format is STATEMENT, want ROW"},
		{"SET GLOBAL binlog_row_image='MINIMAL'", "SET GLOBAL binlog_row_image='FULL'", "binlog_row_image is MINIMAL, want FULL"},
		{"SET GLOBAL binlog_row_metadata='MINIMAL'", "SET GLOBAL binlog_row_metadata='FULL'", "binlog_row_metadata is MINIMAL, want FULL"},
	} {
		h.db.Exec(t, c.set)
		err := h.runErr(h.config())
		h.db.Exec(t, c.reset)
		if !capture.IsPermanent(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("after %s: Run = %v, want a permanent error containing %q", c.set, err, c.want)
		}
	}

	cfg := h.config()
	cfg.Tables = []string{"ficus.missing"}
	if err := h.runErr(cfg); !capture.IsPermanent(err) || !strings.Contains(err.Error(), "table ficus.missing not found") {
		t.Errorf("Run = %v, want table not found", err)
	}
	cfg = h.config()
	cfg.ServerID = uint32(h.db.Port) // testenv uses the port as the server's server_id
	if err := h.runErr(cfg); !capture.IsPermanent(err) || !strings.Contains(err.Error(), "is the server's own server_id") {
		t.Errorf("Run = %v, want server_id clash", err)
	}

	// An event written while metadata was MINIMAL is refused, not guessed.
	h.start(h.config())
	h.stop()
	h.db.Exec(t, "SET GLOBAL binlog_row_metadata='MINIMAL'")
	h.db.Exec(t, "INSERT INTO items VALUES (1)")
	h.db.Exec(t, "SET GLOBAL binlog_row_metadata='FULL'")
	if err := h.runErr(h.config()); !capture.IsPermanent(err) || !strings.Contains(err.Error(), "table map of ficus.items") ||
		!strings.Contains(err.Error(), "binlog_row_metadata other than FULL") {
		t.Errorf("Run = %v, want a permanent missing-metadata error", err)
	}

	for _, bad := range []Config{
		{Name: "Bad Name", DSN: h.db.DSN(), NATS: h.nc, ServerID: 1},
		{Name: "ok", NATS: h.nc, ServerID: 1},
		{Name: "ok", DSN: h.db.DSN(), ServerID: 1},
		{Name: "ok", DSN: h.db.DSN(), NATS: h.nc},
		{Name: "ok", DSN: "root@tcp(127.0.0.1:1)/", NATS: h.nc, ServerID: 1},
		{Name: "ok", DSN: "root@unix(/tmp/x.sock)/ficus", NATS: h.nc, ServerID: 1},
		{Name: "ok", DSN: h.db.DSN(), NATS: h.nc, ServerID: 1, Snapshot: "always"},
		{Name: "ok", DSN: h.db.DSN(), NATS: h.nc, ServerID: 1, Tables: []string{"nodot"}},
	} {
		if _, err := New(bad); !capture.IsPermanent(err) {
			t.Errorf("New(%+v): %v, want a permanent error", bad, err)
		}
	}
	// The password never appears in errors.
	_, err := New(Config{Name: "ok", DSN: "root:s3cret@tcp(127.0.0.1:1", NATS: h.nc, ServerID: 1})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("New with a broken DSN: %v", err)
	}
}
