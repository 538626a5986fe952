package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/testenv"
)

// runWorkload commits mixed transactions (inserts, updates, deletes over two tables)
// until at least `target` row changes are committed, and counts what it committed.
func runWorkload(ctx context.Context, t *testing.T, dsn string, target int, rng *rand.Rand) workload {
	return runWorkloadWhile(ctx, t, dsn, rng, func(w workload) bool { return w.items+w.ledger < target })
}

// runWorkloadWhile is runWorkload that goes on while more says so (asked
// before each transaction, so it may also pace them).
func runWorkloadWhile(ctx context.Context, t *testing.T, dsn string, rng *rand.Rand, more func(workload) bool) workload {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Errorf("workload connect: %v", err)
		return workload{}
	}
	defer conn.Close(ctx)
	var w workload
	nextID := 1
	for more(w) {
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

// kill -9 of `ficus capture` at random moments during a 100,000-row mixed
// workload: afterwards every committed change is in the stream exactly once by
// Nats-Msg-Id, values intact, per-table commit order kept.
func TestCaptureSurvivesKill9(t *testing.T) {
	t.Parallel()
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
  # Each restart after a kill waits for the dead process's lease to lapse
  # (capture/standby): a short TTL keeps the five restarts quick.
  standby: {lease_ttl: 1s}
  sources:
    - name: shop
      type: postgres
      dsn: %q
      tables: [public.items, public.ledger]
`, ns.URL, pg.DSN()))
	bin := buildFicus(t)
	logs := &testenv.LogBuffer{}
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
