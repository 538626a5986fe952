package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/ficus-migrate/ficus/capture"
)

func (h *harness) lsn(sql string) pglogrepl.LSN {
	h.t.Helper()
	l, err := pglogrepl.ParseLSN(h.pg.QueryString(h.t, sql))
	if err != nil {
		h.t.Fatal(err)
	}
	return l
}

func (h *harness) confirmed() pglogrepl.LSN {
	return h.lsn(`SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = 'ficus_legacy'`)
}

func expectInserts(t *testing.T, ev []event, ids ...int) {
	t.Helper()
	for i, e := range ev {
		checkEvent(t, e, "items", "c", "null", fmt.Sprintf(`{"id":%d}`, ids[i]), fmt.Sprintf(`{"id":%d}`, ids[i]), false)
	}
}

// TestRestarts: source restart, PostgreSQL restart and a NATS outage while
// streaming lose nothing and publish nothing twice, and the slot is never
// confirmed past what JetStream holds.
func TestRestarts(t *testing.T) {
	h := newHarness(t)
	h.pg.Exec(t, `CREATE TABLE items (id int PRIMARY KEY)`)
	h.start(h.config())
	h.pg.Exec(t, `INSERT INTO items VALUES (1)`)
	expectInserts(t, h.events(1, 30*time.Second), 1)

	// Source restarted; changes made meanwhile arrive once.
	h.stop()
	for i := 2; i <= 4; i++ {
		h.pg.Exec(t, fmt.Sprintf(`INSERT INTO items VALUES (%d)`, i))
	}
	h.start(h.config())
	expectInserts(t, h.events(3, 30*time.Second), 2, 3, 4)

	// PostgreSQL restarted while streaming.
	h.pg.Restart(t)
	h.pg.Exec(t, `INSERT INTO items VALUES (5)`)
	expectInserts(t, h.events(1, 30*time.Second), 5)
	h.noMore(300 * time.Millisecond)

	// NATS down: nothing can be acknowledged, so nothing new may be confirmed.
	before := h.lsn(`SELECT pg_current_wal_lsn()::text`)
	h.ns.Stop(t)
	for i := 6; i <= 8; i++ {
		h.pg.Exec(t, fmt.Sprintf(`INSERT INTO items VALUES (%d)`, i))
	}
	last := h.lsn(`SELECT pg_current_wal_lsn()::text`)
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		if c := h.confirmed(); c > before {
			t.Fatalf("slot confirmed %s while NATS was down (changes start after %s)", c, before)
		}
	}
	h.ns.Restart(t)
	expectInserts(t, h.events(3, 60*time.Second), 6, 7, 8)
	h.noMore(time.Second)

	// Once acknowledged, the slot advances past them (heartbeats keep it moving).
	deadline := time.Now().Add(30 * time.Second)
	for h.confirmed() <= last {
		if time.Now().After(deadline) {
			t.Fatalf("slot stuck at %s, want > %s\nlogs:\n%s", h.confirmed(), last, h.logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	h.stop()
	if testing.Verbose() || strings.Contains(h.logs.String(), "level=ERROR") {
		t.Logf("logs:\n%s", h.logs.String())
	}
}

func TestToastUnchanged(t *testing.T) {
	h := newHarness(t)
	for _, tbl := range []string{"t_full", "t_default"} {
		h.pg.Exec(t, `CREATE TABLE `+tbl+` (id int PRIMARY KEY, n int, big text)`)
	}
	h.pg.Exec(t, `ALTER TABLE t_full REPLICA IDENTITY FULL`)
	h.start(h.config())
	big := h.pg.QueryString(t, `SELECT string_agg(md5(g::text), '') FROM generate_series(1, 2000) g`)
	for _, tbl := range []string{"t_full", "t_default"} {
		h.pg.Exec(t, `INSERT INTO `+tbl+` VALUES (1, 1, $1)`, big)
		h.pg.Exec(t, `UPDATE `+tbl+` SET n = 2 WHERE id = 1`)
	}
	ev := h.events(4, 30*time.Second)
	bigJSON := mustJSON(t, big)
	checkEvent(t, ev[1], "t_full", "u", `{"id":1,"n":1,"big":`+bigJSON+`}`, `{"id":1,"n":2,"big":`+bigJSON+`}`, `{"id":1}`, false)
	if _, ok := ev[1].source()["unchanged_toast"]; ok {
		t.Errorf("FULL identity: unexpected unchanged_toast: %s", ev[1].Fields["source"])
	}
	checkEvent(t, ev[3], "t_default", "u", `{"id":1}`, `{"id":1,"n":2}`, `{"id":1}`, false)
	if got := mustJSON(t, ev[3].source()["unchanged_toast"]); got != `["big"]` {
		t.Errorf("DEFAULT identity: unchanged_toast = %s, want [\"big\"]", got)
	}
}

func TestPrerequisites(t *testing.T) {
	h := newHarness(t)
	h.pg.Exec(t, `CREATE TABLE nopk (a int)`)
	h.pg.Exec(t, `CREATE TABLE withpk (id int PRIMARY KEY)`)

	cfg := h.config()
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

	cfg.Tables = []string{"public.missing"}
	src, _ = New(cfg)
	if err := src.Run(ctx); !capture.IsPermanent(err) || !strings.Contains(err.Error(), "table public.missing not found") {
		t.Fatalf("Run: %v, want table not found", err)
	}

	// A role without REPLICATION is refused with the statement that fixes it.
	h.pg.Exec(t, `CREATE ROLE app LOGIN`)
	h.pg.Exec(t, `GRANT SELECT ON ALL TABLES IN SCHEMA public TO app`)
	noRepl := cfg
	noRepl.DSN = strings.Replace(h.pg.DSN(), "://ficus@", "://app@", 1)
	noRepl.Tables = []string{"public.withpk"}
	src, _ = New(noRepl)
	if err := src.Run(ctx); !capture.IsPermanent(err) || !strings.Contains(err.Error(), `role "app" lacks the REPLICATION attribute (ALTER ROLE "app" REPLICATION)`) {
		t.Fatalf("Run as a role without REPLICATION: %v", err)
	}

	cfg.Tables = []string{"public.withpk"}
	h.start(cfg)
	h.pg.Exec(t, `INSERT INTO withpk VALUES (1)`)
	h.events(1, 30*time.Second)
	if logs := h.logs.String(); !strings.Contains(logs, "does not have REPLICA IDENTITY FULL: updates and deletes carry only the key columns in before") ||
		!strings.Contains(logs, "table=public.withpk") {
		t.Errorf("missing replica identity warning in logs:\n%s", logs)
	}

	for _, bad := range []Config{{Name: "Bad Name", DSN: "x", NATS: h.nc}, {Name: "ok", NATS: h.nc}, {Name: "ok", DSN: "x"},
		{Name: "ok", DSN: h.pg.DSN(), NATS: h.nc, Snapshot: "always"}, {Name: "ok", DSN: h.pg.DSN(), NATS: h.nc, Tables: []string{"nodot"}}} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%+v): no error", bad)
		}
	}
}
