package postgres

import (
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/capture/capturetest"
	"github.com/ficus-migrate/ficus/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata/capture/postgres/types.golden")

// TestConformance runs the scenarios every capture reader passes.
func TestConformance(t *testing.T) { capturetest.Run(t, conformance) }

// harness runs Sources against real, throwaway PostgreSQL and NATS servers
// and reads back what landed in the stream.
type harness = capturetest.H[*testenv.Postgres]

func newHarness(t *testing.T) *harness { return capturetest.New(t, conformance) }

var conformance = capturetest.Harness[*testenv.Postgres]{
	Connector: "postgresql",
	Schema:    "public",
	StartDB:   testenv.MustStartPostgres,
	NewSource: func(h *harness, tables ...string) (capture.Source, error) {
		cfg := config(h)
		cfg.Tables = tables
		cfg.Mask = h.Mask
		cfg.Backfill = h.Backfill
		return New(cfg)
	},
	WaitStreaming: waitStreaming,
	CheckPosition: checkPosition,
	Tx:            func(stmts ...string) string { return "BEGIN; " + strings.Join(stmts, "; ") + "; COMMIT" },
	FullBefore: func(table string) []string {
		return []string{"ALTER TABLE " + table + " REPLICA IDENTITY FULL"}
	},
	CheckLag: func(h *harness) {
		if got := h.Metric("ficus_capture_slot_lag_bytes", nil); got < 0 {
			h.T.Errorf("slot lag metric missing")
		}
	},
	SchemaEvents:  schemaEvents,
	WaitConfirmed: waitConfirmed,
	HoldBack:      holdBack,
	Quote:         quoteIdent,
	Types: capturetest.Types{
		Setup: []string{`CREATE TYPE mood AS ENUM ('happy', 'sad')`, `CREATE DOMAIN posint AS integer CHECK (VALUE > 0)`,
			`CREATE TYPE pair AS (a int, b text)`, `CREATE EXTENSION hstore`},
		Cases:  append(typeCaseList(), capturetest.CrossTypeCases("postgresql", capturetest.CrossCases)...),
		Golden: "../../testdata/capture/postgres/types.golden",
		Update: update,
		Create: func(cols []string) string {
			return "CREATE TABLE types (id int PRIMARY KEY, " + strings.Join(cols, ", ") + ")"
		},
		Insert: func(id int, literals []string) string {
			return fmt.Sprintf("INSERT INTO types VALUES (%d, %s)", id, strings.Join(literals, ", "))
		},
	},
}

func typeCaseList() []capturetest.TypeCase {
	out := make([]capturetest.TypeCase, len(typeCases))
	for i, c := range typeCases {
		out[i] = capturetest.TypeCase{Type: c.typ, Literal: c.literal, Want: c.want}
	}
	return out
}

// config is the Source configuration of the tests: small snapshot pages,
// frequent status updates and heartbeats, quick retries.
func config(h *harness) Config {
	return Config{
		Name: capturetest.SourceName, DSN: h.DB.DSN(), NATS: h.Conn,
		SnapshotChunkSize: 3, StatusInterval: 200 * time.Millisecond, HeartbeatInterval: 500 * time.Millisecond,
		RetryMin: 100 * time.Millisecond, RetryMax: time.Second, AckTimeout: 3 * time.Second,
		Logger: h.Logger(), Registerer: h.Registry,
	}
}

// slot is the replication slot of the tests' source (the default name).
const slot = "ficus_" + capturetest.SourceName

// waitStreaming waits until the slot is in use, i.e. the snapshot (if any) is
// done and changes made from now on are streamed.
func waitStreaming(h *harness) {
	h.T.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for h.DB.QueryString(h.T, `SELECT count(*)::text FROM pg_stat_replication r JOIN pg_replication_slots s
		ON s.active_pid = r.pid WHERE s.slot_name = $1 AND r.state = 'streaming'`, slot) != "1" {
		if time.Now().After(deadline) {
			h.T.Fatalf("slot %s not streaming after 30s\nlogs:\n%s", slot, h.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkPosition checks the LSNs of source and, for streamed changes, the
// transaction id and the message id (commit LSN and index).
func checkPosition(t testing.TB, e capturetest.Event, snapshot bool) {
	t.Helper()
	src, id := e.Source(), e.ID()
	for _, k := range []string{"lsn", "commit_lsn"} {
		if _, err := pglogrepl.ParseLSN(fmt.Sprint(src[k])); err != nil {
			t.Errorf("event %s: source.%s = %v: %v", id, k, src[k], err)
		}
	}
	if snapshot {
		return
	}
	if n, _ := src["tx_id"].(json.Number).Int64(); n <= 0 {
		t.Errorf("event %s: source.tx_id = %v", id, src["tx_id"])
	}
	if wantPrefix := fmt.Sprintf("%s:%s:", capturetest.SourceName, src["commit_lsn"]); !strings.HasPrefix(id, wantPrefix) {
		t.Errorf("event id %q, want prefix %q", id, wantPrefix)
	}
}

func lsn(h *harness, sql string) pglogrepl.LSN {
	h.T.Helper()
	l, err := pglogrepl.ParseLSN(h.DB.QueryString(h.T, sql))
	if err != nil {
		h.T.Fatal(err)
	}
	return l
}

func confirmed(h *harness) pglogrepl.LSN {
	return lsn(h, `SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '`+slot+`'`)
}

// waitConfirmed waits until the slot moved past the current WAL position
// (heartbeats keep it moving).
func waitConfirmed(h *harness) {
	h.T.Helper()
	last := lsn(h, `SELECT pg_current_wal_lsn()::text`)
	deadline := time.Now().Add(30 * time.Second)
	for confirmed(h) <= last {
		if time.Now().After(deadline) {
			h.T.Fatalf("slot stuck at %s, want > %s\nlogs:\n%s", confirmed(h), last, h.Logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// holdBack: while NATS is down, the slot is never confirmed past what
// JetStream holds, i.e. past the WAL position from before the outage.
func holdBack(h *harness) func() {
	before := lsn(h, `SELECT pg_current_wal_lsn()::text`)
	return func() {
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
			if c := confirmed(h); c > before {
				h.T.Fatalf("slot confirmed %s while NATS was down (changes start after %s)", c, before)
			}
		}
	}
}
