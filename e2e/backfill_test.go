package e2e

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/capture/capturetest"
	"github.com/ficus-migrate/ficus/internal/testenv"
)

// TestBackfillSurvivesKill9: `ficus capture backfill` of a table while a
// writer changes the same keys, with the real binary killed -9 twice
// mid-backfill, on each engine. A consumer applying the stream in order ends
// equal to the table, no op r event is older than a change before it, and
// the chunks finished before a kill are not read again: the chunk queries
// number the finished chunks plus at most one per kill. Scaled down from
// the 300,000 rows at 2,000 changes/s: 24,000 rows in chunks of 300,
// a writer at up to 400 changes/s.
func TestBackfillSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	t.Parallel()
	const rows = 24000
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		pg := testenv.MustStartPostgres(t)
		pg.Exec(t, fmt.Sprintf(`CREATE TABLE bf (id int PRIMARY KEY, v int NOT NULL, note text NOT NULL);
			INSERT INTO bf SELECT i, 0, 'n' || i FROM generate_series(1, %d) i; ANALYZE bf; CREATE SCHEMA ficus`, rows))
		conn, err := pgx.Connect(t.Context(), pg.DSN())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close(context.Background()) })
		backfillKill9(t, bfEngine{
			table: "public.bf",
			source: fmt.Sprintf(`{name: shop, type: postgres, dsn: %q, tables: [public.bf], snapshot: never, signal_table: ficus.signal}`,
				pg.DSN()),
			ready: func(ctx context.Context, t *testing.T) { waitForSlot(ctx, t, pg, "ficus_shop") },
			writer: capturetest.Writer{
				Update: "UPDATE bf SET note = CONCAT('u', v), v = v + 1 WHERE id = $1",
				Delete: "DELETE FROM bf WHERE id = $1",
				Upsert: "INSERT INTO bf VALUES ($1, 1, 'i') ON CONFLICT (id) DO UPDATE SET v = bf.v + 1, note = 'r'",
				Exec:   capturetest.ExecOf(conn.Exec),
			},
			lines: func(ctx context.Context, t *testing.T) []string {
				rows, err := pgConn(t, pg).Query(ctx, capturetest.TableQuery)
				return capturetest.TableLines(t, rows, err)
			},
			end: func(t *testing.T) { pg.Exec(t, "INSERT INTO bf VALUES (0, 0, 'end')") },
		}, rows)
	})
	t.Run("mariadb", func(t *testing.T) {
		t.Parallel()
		my := testenv.MustStartMariaDB(t)
		my.Exec(t, "CREATE TABLE bf (id int PRIMARY KEY, v int NOT NULL, note varchar(32) NOT NULL)")
		my.Exec(t, fmt.Sprintf("INSERT INTO bf SELECT seq, 0, CONCAT('n', seq) FROM seq_1_to_%d", rows))
		db := my.DB(t)
		backfillKill9(t, bfEngine{
			table: "ficus.bf",
			source: fmt.Sprintf(`{name: shop, type: mysql, dsn: %q, server_id: 4711, tables: [ficus.bf], snapshot: never}`,
				my.DSN()),
			ready: func(context.Context, *testing.T) {}, // the CLI's 409s wait for the active reader
			writer: capturetest.Writer{
				Update: "UPDATE bf SET note = CONCAT('u', v), v = v + 1 WHERE id = ?",
				Delete: "DELETE FROM bf WHERE id = ?",
				Upsert: "INSERT INTO bf VALUES (?, 1, 'i') ON DUPLICATE KEY UPDATE v = v + 1, note = 'r'",
				Exec:   capturetest.ExecOf(db.ExecContext),
			},
			lines: func(ctx context.Context, t *testing.T) []string {
				rows, err := db.QueryContext(ctx, capturetest.TableQuery)
				return capturetest.TableLines(t, rows, err)
			},
			end: func(t *testing.T) { my.Exec(t, "INSERT INTO bf VALUES (0, 0, 'end')") },
		}, rows)
	})
}

// bfEngine is what backfillKill9 needs of one database engine.
type bfEngine struct {
	table, source string // the captured table; the capture source as a YAML flow mapping
	ready         func(ctx context.Context, t *testing.T)
	// writer holds the engine's statements and Exec; backfillKill9 sets
	// how many keys it changes and how fast.
	writer capturetest.Writer
	lines  func(ctx context.Context, t *testing.T) []string
	// end writes the row the consumer reads up to, on a connection of its
	// own: stopping the writer mid-statement closes the writer's (pgx).
	end func(t *testing.T)
}

func backfillKill9(t *testing.T, e bfEngine, rows int) {
	const chunk = 300
	ns := testenv.MustStartNATS(t)
	admin := freeAddr(t)
	cfg := writeConfig(t, fmt.Sprintf(`
log: {level: debug}
nats: {url: %q}
admin: {listen: %q}
capture:
  standby: {lease_ttl: 1s}
  sources:
    - %s
`, ns.URL, admin, e.source))
	bin := buildFicus(t)
	logs := &testenv.LogBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ficus logs (tail):\n%s", tail(logs.String(), 20000))
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	proc := startFicus(t, bin, logs, "capture", "-c", cfg)
	waitAdminReady(t, admin, "", proc.exited)
	e.ready(ctx, t)

	wctx, stopWriter := context.WithCancel(ctx)
	writer := make(chan int, 1)
	// Up to 400 changes a second to any key: no hot chunk, no key changes.
	w := e.writer
	w.Keys, w.PerTick = rows+1000, 4
	go func() { writer <- w.Run(wctx, t) }()

	// The CLI reaches the active process; until it streams, it answers 409.
	for {
		var out, errOut bytes.Buffer
		code := runFicus(ctx, t, &out, &errOut, "capture", "backfill", "shop", e.table, "--chunk", fmt.Sprint(chunk), "-c", cfg)
		if code == 0 && strings.Contains(out.String(), "queued") {
			break
		}
		if !strings.Contains(errOut.String(), "409") || ctx.Err() != nil {
			t.Fatalf("ficus capture backfill: exit %d\n%s%s", code, out.String(), errOut.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	api := adminAPI(admin, "")
	var sawProgress bool // a running backfill with a rate and an ETA
	chunks := func() (int64, string) {
		st, err := api.Capture(ctx, "shop")
		if err != nil || st.Backfill == nil {
			return -1, ""
		}
		b := st.Backfill
		if b.State == "running" && b.Table == e.table && b.RowsPerSecond > 0 && b.ETASeconds > 0 && b.Rows > 0 {
			sawProgress = true
		}
		return b.Chunks, b.State
	}
	kills := 0
	for _, at := range []int64{15, 45} {
		for {
			n, _ := chunks()
			if n >= at {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("backfill never reached chunk %d", at)
			}
			time.Sleep(10 * time.Millisecond)
		}
		proc.kill()
		kills++
		proc = startFicus(t, bin, logs, "capture", "-c", cfg)
	}
	for {
		if _, state := chunks(); state == "idle" {
			t.Logf("backfill done after %d kills", kills)
			break
		}
		if ctx.Err() != nil {
			t.Fatal("backfill never finished")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !sawProgress {
		t.Error("GET /api/capture/shop never showed a running backfill with rows, rows_per_second and eta_seconds")
	}
	stopWriter()
	changes := <-writer
	e.end(t) // the consumer reads up to it

	nc := ns.Connect(t)
	js, _ := jetstream.New(nc)
	st, err := js.Stream(ctx, "FICUS_CDC_SHOP")
	if err != nil {
		t.Fatal(err)
	}
	rep := capturetest.ReplayStream(ctx, t, st, "bf", func(_ uint64, key string) bool { return key == `{"id":0}` })
	want := e.lines(ctx, t)
	capturetest.CheckReplica(t, rep, want, rows, changes)

	// Chunk queries: every finished chunk once, plus at most the one in
	// flight at each kill.
	out := logs.String()
	reads := len(regexp.MustCompile(`msg="backfill reading chunk"`).FindAllStringIndex(out, -1))
	finished := regexp.MustCompile(`msg="backfill done".* chunks=(\d+)`).FindStringSubmatch(out)
	if finished == nil {
		t.Fatal("no \"backfill done\" in the log")
	}
	total, err := strconv.Atoi(finished[1])
	if err != nil {
		t.Fatal(err)
	}
	// A chunk interrupted inside a process (a watermark write or the
	// window wait failing on a loaded machine) is logged and read again
	// too: never a finished one.
	retried := len(regexp.MustCompile(`msg="backfill interrupted`).FindAllStringIndex(out, -1))
	if reads < total || reads > total+kills+retried {
		t.Errorf("%d chunk queries for %d chunks, %d kills and %d logged interruptions: finished chunks were read again",
			reads, total, kills, retried)
	}
	t.Logf("%d changes written; %d chunks, %d chunk queries; replayed %d op r and %d changes; %d rows",
		changes, total, reads, rep.Reads, rep.Changes, len(want))
}

// pgConn is a connection of its own to pg, closed when the test ends.
func pgConn(t *testing.T, pg *testenv.Postgres) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}
