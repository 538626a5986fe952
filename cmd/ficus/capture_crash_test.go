package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/testenv"
)

// ficusProc is one run of the real ficus binary.
type ficusProc struct {
	cmd    *exec.Cmd
	logs   *lockedBuffer
	exited chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startFicus(t *testing.T, bin string, logs *lockedBuffer, args ...string) *ficusProc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &ficusProc{cmd: cmd, logs: logs, exited: make(chan error, 1)}
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *ficusProc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
	p.exited <- nil // later kills return at once
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ficus.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// workload commits mixed transactions (inserts, updates, deletes over two tables)
// until at least `target` row changes are committed, and counts what it committed.
type workload struct {
	items, ledger int // committed row changes per table
}

func runWorkload(ctx context.Context, t *testing.T, dsn string, target int, rng *rand.Rand) workload {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Errorf("workload connect: %v", err)
		return workload{}
	}
	defer conn.Close(ctx)
	var w workload
	nextID := 1
	for w.items+w.ledger < target {
		ins := 10 + rng.IntN(40)
		first := nextID
		nextID += ins
		upd, del := rng.IntN(20), rng.IntN(5)
		led := rng.IntN(30)
		var b pgx.Batch
		b.Queue(`INSERT INTO items (id, ver, note) SELECT g, 0, 'n' || g FROM generate_series($1::int, $2::int) g`, first, first+ins-1)
		lo := 1 + rng.IntN(first)
		b.Queue(`UPDATE items SET ver = ver + 1, note = note || '.' WHERE id BETWEEN $1 AND $2`, lo, lo+upd)
		lo = 1 + rng.IntN(first)
		b.Queue(`DELETE FROM items WHERE id BETWEEN $1 AND $2`, lo, lo+del)
		b.Queue(`INSERT INTO ledger (item, amount) SELECT $1, (g * 1.01)::numeric(12,2) FROM generate_series(1, $2::int) g`, first, led)
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Errorf("begin: %v", err)
			return w
		}
		br := tx.SendBatch(ctx, &b)
		var n [4]int64
		for i := range n {
			tag, err := br.Exec()
			if err != nil {
				t.Errorf("workload statement %d: %v", i, err)
				return w
			}
			n[i] = tag.RowsAffected()
		}
		if err := br.Close(); err != nil {
			t.Errorf("batch: %v", err)
			return w
		}
		if err := tx.Commit(ctx); err != nil {
			t.Errorf("commit: %v", err)
			return w
		}
		w.items += int(n[0] + n[1] + n[2])
		w.ledger += int(n[3])
	}
	return w
}

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

// kill -9 of `ficus capture` at random moments during a 100,000-row mixed
// workload: afterwards every committed change is in the stream exactly once by
// Nats-Msg-Id, values intact, per-table commit order kept.
func TestCaptureSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	pg := testenv.MustStartPostgres(t)
	ns := testenv.MustStartNATS(t)
	pg.Exec(t, `CREATE TABLE items (id int PRIMARY KEY, ver int NOT NULL, note text NOT NULL);
		ALTER TABLE items REPLICA IDENTITY FULL;
		CREATE TABLE ledger (id bigserial PRIMARY KEY, item int NOT NULL, amount numeric(12,2) NOT NULL)`)
	cfg := writeConfig(t, fmt.Sprintf(`
log: {level: debug}
nats: {url: %q}
admin: {listen: "127.0.0.1:0"}
capture:
  sources:
    - name: shop
      type: postgres
      dsn: %q
      tables: [public.items, public.ledger]
`, ns.URL, pg.DSN()))
	bin := buildFicus(t)
	logs := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			out := logs.String()
			if len(out) > 20000 {
				out = out[len(out)-20000:]
			}
			t.Logf("ficus logs (tail):\n%s", out)
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	proc := startFicus(t, bin, logs, "capture", "-c", cfg)
	// Changes committed before the slot exists belong to the snapshot, not the
	// stream: start the workload once capture holds its slot.
	waitForSlot(ctx, t, pg, "ficus_shop")
	done := make(chan workload, 1)
	go func() { done <- runWorkload(ctx, t, pg.DSN(), 100_000, rand.New(rand.NewPCG(seed, 11))) }()
	kills := 0
	var w workload
	for loop := true; loop; {
		select {
		case w = <-done:
			loop = false
		case <-time.After(time.Duration(500+rng.IntN(3000)) * time.Millisecond):
			proc.kill()
			kills++
			proc = startFicus(t, bin, logs, "capture", "-c", cfg)
		}
	}
	for ; kills < 5; kills++ { // a fast workload still gets its five kills, while catching up
		time.Sleep(time.Duration(200+rng.IntN(800)) * time.Millisecond)
		proc.kill()
		proc = startFicus(t, bin, logs, "capture", "-c", cfg)
	}
	t.Logf("workload committed %d item and %d ledger changes; ficus killed %d times", w.items, w.ledger, kills)
	if t.Failed() {
		return
	}

	nc := ns.Connect(t)
	js, _ := jetstream.New(nc)
	want := uint64(w.items + w.ledger)
	stream := waitForMessages(ctx, t, js, "FICUS_CDC_SHOP", want)
	checkStream(ctx, t, stream, pgRows(pg), w)
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
