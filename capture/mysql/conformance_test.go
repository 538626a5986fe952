package mysql

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/capture/capturetest"
	"github.com/ficus-migrate/ficus/capture/sink"
	"github.com/ficus-migrate/ficus/internal/testenv"
)

// TestConformance runs the scenarios every capture reader passes.
func TestConformance(t *testing.T) { capturetest.Run(t, conformance) }

// harness runs Sources against real, throwaway MariaDB and NATS servers and
// reads back what landed in the stream.
type harness = capturetest.H[*testenv.MariaDB]

func newHarness(t *testing.T) *harness { return capturetest.New(t, conformance) }

var conformance = capturetest.Harness[*testenv.MariaDB]{
	Connector: "mysql",
	Schema:    "ficus",
	StartDB:   testenv.MustStartMariaDB,
	NewSource: func(h *harness, tables ...string) (capture.Source, error) {
		cfg := config(h)
		cfg.Tables = tables
		cfg.Mask = h.Mask
		cfg.Backfill = h.Backfill
		return New(cfg)
	},
	WaitStreaming: waitStreaming,
	CheckPosition: checkPosition,
	Tx: func(stmts ...string) string {
		return "BEGIN NOT ATOMIC START TRANSACTION; " + strings.Join(stmts, "; ") + "; COMMIT; END"
	},
	PublishesDDL: true,
	CheckLag: func(h *harness) {
		if got := h.Metric("ficus_capture_lag_seconds", nil); got < 0 || got > 60 {
			h.T.Errorf("lag seconds %v", got)
		}
	},
	WaitConfirmed: func(h *harness) { caughtUp(h) },
	Quote:         quoteIdent,
	Types: capturetest.Types{
		Cases:  append(typeCaseList(), capturetest.CrossTypeCases("mysql", capturetest.CrossCases)...),
		Golden: "../../testdata/capture/mysql/types.golden",
		Update: update,
		Create: func(cols []string) string {
			return "CREATE TABLE types (id int PRIMARY KEY, " + strings.Join(cols, " NULL, ") + " NULL) DEFAULT CHARSET=utf8mb4"
		},
		Insert: func(id int, literals []string) string {
			return fmt.Sprintf("SET STATEMENT sql_mode='', time_zone='+02:00' FOR INSERT INTO types VALUES (%d, %s)",
				id, strings.Join(literals, ", "))
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
// frequent checkpoints and heartbeats, quick retries.
func config(h *harness) Config {
	return Config{
		Name: capturetest.SourceName, DSN: h.DB.DSN(), NATS: h.Conn, ServerID: 4242,
		SnapshotChunkSize: 3, CheckpointInterval: 100 * time.Millisecond, HeartbeatPeriod: time.Second,
		RetryMin: 100 * time.Millisecond, RetryMax: time.Second, AckTimeout: 3 * time.Second,
		Logger: h.Logger(), Registerer: h.Registry,
	}
}

// waitStreaming waits until a binlog dump thread serves us, i.e. the snapshot
// (if any) is done and changes made from now on are streamed.
func waitStreaming(h *harness) {
	h.T.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for h.DB.QueryString(h.T, `SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'`) != "1" {
		if time.Now().After(deadline) {
			h.T.Fatalf("not streaming after 30s\nlogs:\n%s", h.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkPosition checks the binlog file and position in source and, for
// streamed changes, the GTID, the server id and the message id (GTID and
// index).
func checkPosition(t testing.TB, e capturetest.Event, snapshot bool) {
	t.Helper()
	src, id := e.Source(), e.ID()
	if f, _ := src["file"].(string); !strings.HasPrefix(f, "binlog.") {
		t.Errorf("event %s: source.file = %v", id, src["file"])
	}
	if n, _ := src["pos"].(json.Number).Int64(); n < 4 {
		t.Errorf("event %s: source.pos = %v", id, src["pos"])
	}
	if snapshot {
		return
	}
	gtid, _ := src["gtid"].(string)
	if !regexp.MustCompile(`^0-\d+-\d+$`).MatchString(gtid) {
		t.Errorf("event %s: source.gtid = %q", id, gtid)
	}
	if n, _ := src["server_id"].(json.Number).Int64(); n <= 0 {
		t.Errorf("event %s: source.server_id = %v", id, src["server_id"])
	}
	if wantPrefix := capturetest.SourceName + ":" + gtid + ":"; !strings.HasPrefix(id, wantPrefix) {
		t.Errorf("event id %q, want prefix %q", id, wantPrefix)
	}
}

func kv(h *harness) jetstream.KeyValue {
	h.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := h.JS.KeyValue(ctx, sink.DefaultCheckpointStore)
	if err != nil {
		h.T.Fatal(err)
	}
	return kv
}

// caughtUp returns the saved position once its GTID reaches the server's
// current gtid_binlog_pos (everything written so far is durable).
func caughtUp(h *harness) Position {
	h.T.Helper()
	want := h.DB.QueryString(h.T, "SELECT @@gtid_binlog_pos")
	deadline := time.Now().Add(30 * time.Second)
	for {
		e, err := kv(h).Get(context.Background(), capturetest.SourceName+".position")
		if err == nil {
			p, err := ParsePosition(e.Value())
			if err != nil {
				h.T.Fatalf("checkpoint %s: %v", e.Value(), err)
			}
			if p.GTID == want {
				return p
			}
		}
		if time.Now().After(deadline) {
			h.T.Fatalf("checkpoint did not reach %s\nlogs:\n%s", want, h.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
