package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/testenv"
)

func mariaRows(db *sql.DB) tableRows {
	return func(t *testing.T, query string) [][3]string {
		rows, err := db.Query(query)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		return scanTriples(t, rows)
	}
}

// runMariaWorkload is runWorkload's MariaDB twin: the same mixed transactions.
func runMariaWorkload(ctx context.Context, t *testing.T, db *sql.DB, target int, rng *rand.Rand) workload {
	return runMariaWorkloadWhile(ctx, t, db, rng, func(w workload) bool { return w.items+w.ledger < target })
}

// runMariaWorkloadWhile is runWorkloadWhile's MariaDB twin.
func runMariaWorkloadWhile(ctx context.Context, t *testing.T, db *sql.DB, rng *rand.Rand, more func(workload) bool) workload {
	var w workload
	nextID := 1
	for more(w) && ctx.Err() == nil {
		ins := 10 + rng.IntN(40)
		first := nextID
		nextID += ins
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Errorf("begin: %v", err)
			return w
		}
		lo, lo2 := 1+rng.IntN(first), 1+rng.IntN(first)
		led := 1 + rng.IntN(30)
		stmts := []struct {
			q    string
			args []any
		}{
			{fmt.Sprintf(`INSERT INTO items (id, ver, note) SELECT seq, 0, CONCAT('n', seq) FROM seq_%d_to_%d`, first, first+ins-1), nil},
			{`UPDATE items SET ver = ver + 1, note = CONCAT(note, '.') WHERE id BETWEEN ? AND ?`, []any{lo, lo + rng.IntN(20)}},
			{`DELETE FROM items WHERE id BETWEEN ? AND ?`, []any{lo2, lo2 + rng.IntN(5)}},
			{fmt.Sprintf(`INSERT INTO ledger (item, amount) SELECT ?, seq * 1.01 FROM seq_1_to_%d`, led), []any{first}},
		}
		var n [4]int64
		for i, st := range stmts {
			res, err := tx.ExecContext(ctx, st.q, st.args...)
			if err != nil {
				_ = tx.Rollback()
				t.Errorf("workload statement %d: %v", i, err)
				return w
			}
			n[i], _ = res.RowsAffected()
		}
		if err := tx.Commit(); err != nil {
			t.Errorf("commit: %v", err)
			return w
		}
		w.items += int(n[0] + n[1] + n[2])
		w.ledger += int(n[3])
	}
	return w
}

// kill -9 of `ficus capture` on a MariaDB source at random moments during a
// 100,000-row mixed workload, with a binlog rotation in the middle: every
// committed change is in the stream once, values intact, in per-key order.
func TestMariaDBCaptureSurvivesKill9(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("crash test")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	my := testenv.MustStartMariaDB(t)
	ns := testenv.MustStartNATS(t)
	my.Exec(t, `CREATE TABLE items (id int PRIMARY KEY, ver int NOT NULL, note varchar(200) NOT NULL)`)
	my.Exec(t, `CREATE TABLE ledger (id bigint AUTO_INCREMENT PRIMARY KEY, item int NOT NULL, amount decimal(12,2) NOT NULL)`)
	cfg := writeConfig(t, fmt.Sprintf(`
nats: {url: %q}
admin: {listen: "127.0.0.1:0"}
capture:
  # Each restart after a kill waits for the dead process's lease to lapse
  # (capture/standby): a short TTL keeps the five restarts quick.
  standby: {lease_ttl: 1s}
  sources:
    - {name: shop, type: mysql, dsn: %q, server_id: 4242, tables: [ficus.items, ficus.ledger]}
`, ns.URL, my.DSN()))
	bin := buildFicus(t)
	logs := &testenv.LogBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ficus logs (tail):\n%s", tail(logs.String(), 20000))
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	proc := startFicus(t, bin, logs, "capture", "-c", cfg)
	for my.QueryString(t, `SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'`) != "1" {
		if ctx.Err() != nil {
			t.Fatal("capture never started streaming")
		}
		time.Sleep(50 * time.Millisecond)
	}
	db := my.DB(t)
	done := make(chan workload, 1)
	go func() { done <- runMariaWorkload(ctx, t, db, 100_000, rand.New(rand.NewPCG(seed, 5))) }()
	kills, rotated := 0, false
	var w workload
	for loop := true; loop; {
		select {
		case w = <-done:
			loop = false
		case <-time.After(time.Duration(500+rng.IntN(3000)) * time.Millisecond):
			if !rotated {
				my.Exec(t, `FLUSH BINARY LOGS`)
				rotated = true
			}
			proc.kill()
			kills++
			proc = startFicus(t, bin, logs, "capture", "-c", cfg)
		}
	}
	for ; kills < 5; kills++ {
		time.Sleep(time.Duration(200+rng.IntN(800)) * time.Millisecond)
		proc.kill()
		proc = startFicus(t, bin, logs, "capture", "-c", cfg)
	}
	t.Logf("workload committed %d item and %d ledger changes; ficus killed %d times", w.items, w.ledger, kills)
	if t.Failed() {
		return
	}
	js, _ := jetstream.New(ns.Connect(t))
	stream := waitForMessages(ctx, t, js, "FICUS_CDC_SHOP", uint64(w.items+w.ledger))
	checkStream(ctx, t, stream, mariaRows(db), w)
}
