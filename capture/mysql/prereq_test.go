package mysql

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/capture"
)

// runErr runs a Source built from cfg until it fails.
func runErr(h *harness, cfg Config) error {
	h.T.Helper()
	src, err := New(cfg)
	if err != nil {
		h.T.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return src.Run(ctx)
}

func TestPrerequisites(t *testing.T) {
	h := newHarness(t)
	h.DB.Exec(t, `CREATE TABLE items (id int PRIMARY KEY)`)
	for _, c := range []struct{ set, reset, want string }{
		{"SET GLOBAL binlog_format='STATEMENT'", "SET GLOBAL binlog_format='ROW'", "binlog_format is STATEMENT, want ROW"},
		{"SET GLOBAL binlog_row_image='MINIMAL'", "SET GLOBAL binlog_row_image='FULL'", "binlog_row_image is MINIMAL, want FULL"},
		{"SET GLOBAL binlog_row_metadata='MINIMAL'", "SET GLOBAL binlog_row_metadata='FULL'", "binlog_row_metadata is MINIMAL, want FULL"},
	} {
		h.DB.Exec(t, c.set)
		err := runErr(h, config(h))
		h.DB.Exec(t, c.reset)
		if !capture.IsPermanent(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("after %s: Run = %v, want a permanent error containing %q", c.set, err, c.want)
		}
	}

	cfg := config(h)
	cfg.ServerID = uint32(h.DB.Port) // testenv uses the port as the server's server_id
	if err := runErr(h, cfg); !capture.IsPermanent(err) || !strings.Contains(err.Error(), "is the server's own server_id") {
		t.Errorf("Run = %v, want server_id clash", err)
	}

	// An event written while metadata was MINIMAL is refused, not guessed.
	h.StartSource()
	h.Stop()
	h.DB.Exec(t, "SET GLOBAL binlog_row_metadata='MINIMAL'")
	h.DB.Exec(t, "INSERT INTO items VALUES (1)")
	h.DB.Exec(t, "SET GLOBAL binlog_row_metadata='FULL'")
	if err := runErr(h, config(h)); !capture.IsPermanent(err) || !strings.Contains(err.Error(), "table map of ficus.items") ||
		!strings.Contains(err.Error(), "binlog_row_metadata other than FULL") {
		t.Errorf("Run = %v, want a permanent missing-metadata error", err)
	}

	for _, bad := range []Config{
		{Name: "Bad Name", DSN: h.DB.DSN(), NATS: h.Conn, ServerID: 1},
		{Name: "ok", NATS: h.Conn, ServerID: 1},
		{Name: "ok", DSN: h.DB.DSN(), ServerID: 1},
		{Name: "ok", DSN: h.DB.DSN(), NATS: h.Conn},
		{Name: "ok", DSN: "root@tcp(127.0.0.1:1)/", NATS: h.Conn, ServerID: 1},
		{Name: "ok", DSN: "root@unix(/tmp/x.sock)/ficus", NATS: h.Conn, ServerID: 1},
		{Name: "ok", DSN: h.DB.DSN(), NATS: h.Conn, ServerID: 1, Snapshot: "always"},
		{Name: "ok", DSN: h.DB.DSN(), NATS: h.Conn, ServerID: 1, Tables: []string{"nodot"}},
	} {
		if _, err := New(bad); !capture.IsPermanent(err) {
			t.Errorf("New(%+v): %v, want a permanent error", bad, err)
		}
	}
	// The password never appears in errors.
	_, err := New(Config{Name: "ok", DSN: "root:s3cret@tcp(127.0.0.1:1", NATS: h.Conn, ServerID: 1})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("New with a broken DSN: %v", err)
	}
}
