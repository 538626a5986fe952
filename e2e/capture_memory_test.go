package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/testenv"
)

// A 1,000,000-row single transaction streams through `ficus capture` (with its
// embedded NATS, the default deployment) while the process stays under 300 MB RSS.
func TestCaptureLargeTransactionBoundedMemory(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("1M-row test")
	}
	const rows = 1_000_000
	pg := testenv.MustStartPostgres(t)
	pg.Exec(t, `CREATE TABLE big (id bigint PRIMARY KEY, customer_id int, amount numeric(12,2), status text, created_at timestamptz)`)
	natsAddr := freeAddr(t)
	cfg := writeConfig(t, fmt.Sprintf(`
nats: {embedded: {listen: %q, store_dir: %q}}
admin: {listen: "127.0.0.1:0"}
capture:
  sources:
    - {name: big, type: postgres, dsn: %q, tables: [public.big]}
`, natsAddr, t.TempDir(), pg.DSN()))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	streamLargeTransaction(ctx, t, cfg, "FICUS_CDC_BIG", rows,
		func() { waitForSlot(ctx, t, pg, "ficus_big") },
		func() {
			pg.Exec(t, `INSERT INTO big SELECT g, g % 1000, (g % 100000) / 100.0, 'status-' || (g % 7), now() FROM generate_series(1, $1::int) g`, rows)
		})
}

// The same for a MariaDB source: one 1,000,000-row transaction in the binlog.
func TestMariaDBCaptureLargeTransactionBoundedMemory(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("1M-row test")
	}
	const rows = 1_000_000
	my := testenv.MustStartMariaDB(t)
	my.Exec(t, `CREATE TABLE big (id bigint PRIMARY KEY, customer_id int, amount decimal(12,2), status varchar(20), created_at datetime(6))`)
	natsAddr := freeAddr(t)
	cfg := writeConfig(t, fmt.Sprintf(`
nats: {embedded: {listen: %q, store_dir: %q}}
admin: {listen: "127.0.0.1:0"}
capture:
  sources:
    - {name: big, type: mysql, server_id: 4343, dsn: %q, tables: [ficus.big]}
`, natsAddr, t.TempDir(), my.DSN()))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	streamLargeTransaction(ctx, t, cfg, "FICUS_CDC_BIG", rows,
		func() {
			for my.QueryString(t, `SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'`) != "1" {
				if ctx.Err() != nil {
					t.Fatal("capture never started streaming")
				}
				time.Sleep(50 * time.Millisecond)
			}
		},
		func() {
			my.Exec(t, fmt.Sprintf(`INSERT INTO big SELECT seq, seq %% 1000, (seq %% 100000) / 100.0, CONCAT('status-', seq %% 7), NOW(6) FROM seq_1_to_%d`, rows))
		})
}

// streamLargeTransaction runs `ficus capture` with cfg, waits until it streams,
// commits the big transaction, and follows the process's RSS until every row is
// in the stream.
func streamLargeTransaction(ctx context.Context, t *testing.T, cfg, stream string, rows uint64, waitStreaming, commit func()) {
	t.Helper()
	logs := &testenv.LogBuffer{}
	proc := startFicus(t, buildFicus(t), logs, "capture", "-c", cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ficus logs:\n%s", tail(logs.String(), 10000))
		}
	})
	waitStreaming()
	commit()
	nc, err := nats.Connect(natsURLOf(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	var peak int64
	var got uint64
	for ctx.Err() == nil && got < rows {
		if rss := rssBytes(t, proc.cmd.Process.Pid); rss > peak {
			peak = rss
		}
		if st, err := js.Stream(ctx, stream); err == nil {
			if info, err := st.Info(ctx); err == nil {
				got = info.State.Msgs
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%d events in the stream; peak RSS %d MB", got, peak>>20)
	if got != rows {
		t.Fatalf("stream holds %d events, want %d", got, rows)
	}
	if peak > 300<<20 {
		t.Fatalf("peak RSS %d MB, want under 300 MB", peak>>20)
	}
}

func rssBytes(t *testing.T, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
