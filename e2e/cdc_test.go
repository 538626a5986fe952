package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/testenv"
)

// Reading a capture stream back: the tests that run `ficus capture` check
// what reached JetStream against what they committed to the database.

// workload is what a test's writer committed: row changes per table.
type workload struct {
	items, ledger int
}

// cdcEvent is a change event as a consumer of FICUS_CDC_* reads it.
type cdcEvent struct {
	Op     string         `json:"op"`
	Before map[string]any `json:"before"`
	After  map[string]any `json:"after"`
	Key    map[string]any `json:"key"`
	Source struct {
		Table     string `json:"table"`
		CommitLSN string `json:"commit_lsn"`
	} `json:"source"`
}

func waitForSlot(ctx context.Context, t *testing.T, pg *testenv.Postgres, slot string) {
	t.Helper()
	for ctx.Err() == nil {
		if pg.QueryString(t, `SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1 AND active`, slot) == "1" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("slot %s never became active", slot)
}

func waitForMessages(ctx context.Context, t *testing.T, js jetstream.JetStream, name string, want uint64) jetstream.Stream {
	t.Helper()
	var got uint64
	for ctx.Err() == nil {
		st, err := js.Stream(ctx, name)
		if err == nil {
			info, err := st.Info(ctx)
			if err == nil {
				got = info.State.Msgs
				if got >= want {
					return st
				}
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("stream %s holds %d messages, want %d", name, got, want)
	return nil
}

// tableRows reads (id, col1, col2) of a table as text, for comparing with the stream.
type tableRows func(t *testing.T, query string) [][3]string

func pgRows(pg *testenv.Postgres) tableRows {
	return func(t *testing.T, query string) [][3]string {
		// pgx scans text only into strings: read every column as text.
		rows, err := pg.Conn(t).Query(context.Background(), query, pgx.QueryResultFormats{pgx.TextFormatCode})
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		return scanTriples(t, rows)
	}
}

// scanTriples reads three text columns per row from pgx or database/sql rows.
func scanTriples(t *testing.T, rows interface {
	Next() bool
	Scan(...any) error
}) [][3]string {
	var out [][3]string
	for rows.Next() {
		var r [3]string
		if err := rows.Scan(&r[0], &r[1], &r[2]); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// checkStream reads the whole stream and checks it against the committed
// workload and the database: each change once per Nats-Msg-Id (replays identical),
// per-key order (each update's before image is the stream's previous after image),
// per-table commit order where the source gives an LSN, and the final state.
func checkStream(ctx context.Context, t *testing.T, st jetstream.Stream, rowsOf tableRows, w workload) {
	t.Helper()
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	info, _ := st.Info(ctx)
	seen := map[string][]byte{}
	perTable := map[string]int{}
	lastLSN := map[string]uint64{}
	items := map[string]map[string]any{}
	ledger := map[string]map[string]any{}
	for i := uint64(0); i < info.State.Msgs; i++ {
		msg, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
		if err != nil {
			t.Fatalf("read message %d: %v", i+1, err)
		}
		id := msg.Headers().Get(nats.MsgIdHdr)
		if prev, dup := seen[id]; dup {
			if !bytes.Equal(prev, msg.Data()) {
				t.Fatalf("duplicate Nats-Msg-Id %s with different contents", id)
			}
			continue
		}
		seen[id] = msg.Data()
		var ev cdcEvent
		if err := json.Unmarshal(msg.Data(), &ev); err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
		perTable[ev.Source.Table]++
		if ev.Source.CommitLSN != "" {
			lsn := parseLSN(t, ev.Source.CommitLSN)
			if lsn < lastLSN[ev.Source.Table] {
				t.Fatalf("%s: commit_lsn %s after a later one: per-table order broken", ev.Source.Table, ev.Source.CommitLSN)
			}
			lastLSN[ev.Source.Table] = lsn
		}
		state := items
		if ev.Source.Table == "ledger" {
			state = ledger
		}
		key := fmt.Sprint(ev.Key["id"])
		switch ev.Op {
		case "c", "u":
			if ev.Op == "u" && ev.Before["ver"] != nil && state[key]["ver"] != ev.Before["ver"] {
				t.Fatalf("update of %s %s: before.ver %v, but the stream last said %v", ev.Source.Table, key, ev.Before["ver"], state[key]["ver"])
			}
			state[key] = ev.After
		case "d":
			if _, ok := state[key]; !ok {
				t.Fatalf("delete of %s %s that the stream never created", ev.Source.Table, key)
			}
			delete(state, key)
		default:
			t.Fatalf("unexpected op %q", ev.Op)
		}
	}
	if perTable["items"] != w.items || perTable["ledger"] != w.ledger {
		t.Fatalf("distinct events: items %d ledger %d; committed: items %d ledger %d",
			perTable["items"], perTable["ledger"], w.items, w.ledger)
	}
	compareTable(t, rowsOf(t, "SELECT id, ver, note FROM items"), items, "ver", "note")
	compareTable(t, rowsOf(t, "SELECT id, item, amount FROM ledger"), ledger, "item", "amount")
}

// compareTable checks the state rebuilt from the stream against the database.
func compareTable(t *testing.T, rows [][3]string, state map[string]map[string]any, cols ...string) {
	t.Helper()
	for _, r := range rows {
		got, ok := state[r[0]]
		if !ok {
			t.Fatalf("row %s is in the database but not in the stream's final state", r[0])
		}
		for i, want := range r[1:] {
			if v := jsonText(got[cols[i]]); v != want {
				t.Fatalf("row %s column %s: stream says %q, database %q", r[0], cols[i], v, want)
			}
		}
	}
	if len(rows) != len(state) {
		t.Fatalf("database has %d rows, the stream's final state %d", len(rows), len(state))
	}
}

func jsonText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}

func parseLSN(t *testing.T, s string) uint64 {
	hi, lo, ok := strings.Cut(s, "/")
	a, err1 := strconv.ParseUint(hi, 16, 32)
	b, err2 := strconv.ParseUint(lo, 16, 32)
	if !ok || err1 != nil || err2 != nil {
		t.Fatalf("bad LSN %q", s)
	}
	return a<<32 | b
}
