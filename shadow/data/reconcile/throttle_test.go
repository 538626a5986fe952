package reconcile

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/internal/backoff"
	"github.com/ficus-migrate/ficus/internal/testenv"
)

func TestOverLoad(t *testing.T) {
	tests := []struct {
		name     string
		throttle Throttle
		load     Load
		mine     int64
		want     string // part of the reason; "" for none
	}{
		{"no limits", Throttle{}, Load{Running: 500, Replica: true, LagUnknown: true}, 0, ""},
		{"under", Throttle{MaxThreadsRunning: 5}, Load{Running: 5}, 0, ""},
		{"over", Throttle{MaxThreadsRunning: 5}, Load{Running: 6}, 0, "6 queries running"},
		{"own queries not counted", Throttle{MaxThreadsRunning: 5}, Load{Running: 8}, 3, ""},
		{"own queries counted out, still over", Throttle{MaxThreadsRunning: 5}, Load{Running: 9}, 3, "6 queries running (besides reconcile's own 3) > max_threads_running 5"},
		{"not a replica", Throttle{MaxReplicaLag: time.Second}, Load{Lag: time.Hour}, 0, ""},
		{"replica within", Throttle{MaxReplicaLag: 5 * time.Second}, Load{Replica: true, Lag: 5 * time.Second}, 0, ""},
		{"replica behind", Throttle{MaxReplicaLag: 5 * time.Second}, Load{Replica: true, Lag: 6 * time.Second}, 0, "replica lag 6s > max_replica_lag 5s"},
		{"replication stopped", Throttle{MaxReplicaLag: 5 * time.Second}, Load{Replica: true, LagUnknown: true}, 0, "replica lag unknown"},
		{"lag not asked", Throttle{MaxThreadsRunning: 5}, Load{Replica: true, LagUnknown: true}, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := overLoad(tc.throttle, "legacy", tc.load, tc.mine)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("reason %q, want %q", got, tc.want)
			}
			if got != "" && !strings.HasPrefix(got, "legacy: ") {
				t.Errorf("reason %q does not name the side", got)
			}
		})
	}
}

// TestRateWait: the gate holds a range back until the rows read so far
// fit the rate limit (its sleep is recorded, not slept).
func TestRateWait(t *testing.T) {
	g, err := newGate(Throttle{RateLimit: 1000}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var slept []time.Duration
	g.sleep = func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }
	if err := g.wait(context.Background()); err != nil || len(slept) != 0 {
		t.Fatalf("first range waited %v (%v)", slept, err)
	}
	g.charge(10_000) // ten seconds' worth at 1000 rows/s
	if err := g.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(slept) != 1 || slept[0] <= 9*time.Second || slept[0] > 10*time.Second {
		t.Fatalf("slept %v after 10,000 rows at 1000 rows/s, want one wait of nearly 10s", slept)
	}
	if _, _, rateWait, _ := g.status(); rateWait != slept[0] {
		t.Errorf("rate wait %s, want %s", rateWait, slept[0])
	}
}

// throttleTables makes 20,000 rows per side with three differences and
// returns them as describe prints them.
func throttleTables(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres) []string {
	my.Exec(t, "CREATE TABLE thr (id BIGINT PRIMARY KEY, v INT NOT NULL)")
	my.Exec(t, "INSERT INTO thr SELECT seq, seq FROM seq_1_to_20000")
	my.Exec(t, "ANALYZE TABLE thr")
	pg.Exec(t, "CREATE TABLE thr (legacy_id bigint PRIMARY KEY, v int NOT NULL)")
	pg.Exec(t, "INSERT INTO thr SELECT s, s FROM generate_series(1, 20000) s")
	pg.Exec(t, "ANALYZE thr")
	pg.Exec(t, "UPDATE thr SET v = -1 WHERE legacy_id = 777")
	pg.Exec(t, "DELETE FROM thr WHERE legacy_id = 12345")
	my.Exec(t, "DELETE FROM thr WHERE id = 19999")
	return []string{"777 differs v/v=777/-1", "12345 missing_in_new", "19999 missing_in_legacy"}
}

var (
	thrLegacy = Table{Name: "ficus.thr", Key: "id", Columns: []string{"v"}}
	thrNew    = Table{Name: "public.thr", Key: "legacy_id", Columns: []string{"v"}}
)

func checkDiffs(t *testing.T, res *Result, want []string) {
	t.Helper()
	var got []string
	for _, d := range res.Differences {
		got = append(got, describe(d))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("differences:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// pausedRun starts Run in the background with a throttle that checks
// often, and returns a channel that yields the first progress report
// that shows a pause, and one that yields Run's outcome.
type outcome struct {
	res *Result
	err error
}

func pausedRun(ctx context.Context, t *testing.T, l, n Side, th Throttle, log *slog.Logger) (<-chan Progress, <-chan outcome) {
	th.CheckEvery = time.Millisecond
	th.Backoff = backoff.Policy{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond}
	paused := make(chan Progress, 1)
	var once sync.Once
	done := make(chan outcome, 1)
	go func() {
		res, err := Run(ctx, Config{Legacy: l, New: n, Parallel: 1, Throttle: th, Log: log, ProgressEvery: 5 * time.Millisecond,
			Progress: func(p Progress) {
				if p.Paused != "" {
					once.Do(func() { paused <- p })
				}
			}})
		done <- outcome{res, err}
	}()
	return paused, done
}

// testThrottleLoad: connections sleeping on MariaDB push its running
// queries over max_threads_running: reconcile pauses (logged and in its
// progress) and, once they end, resumes and finds what an unthrottled
// run finds in as many rows.
func testThrottleLoad(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres, want []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, n := sides(t, ctx, my, pg, thrLegacy, thrNew)
	plain, err := Run(ctx, Config{Legacy: l, New: n})
	if err != nil {
		t.Fatal(err)
	}
	checkDiffs(t, plain, want)
	// Neither server is a replica nor has standbys: the lag queries run
	// (the privileges are there) and find no lag to wait for.
	for _, side := range []Side{l, n} {
		load, err := loadReader(side).Load(ctx, true)
		if err != nil || load.Replica || load.LagUnknown || load.Lag != 0 {
			t.Errorf("%s: load %+v, %v; want no replica", side.Table().Name, load, err)
		}
	}

	db := my.DB(t)
	const sleepers = 4
	var ids []int64
	var wg sync.WaitGroup
	for range sleepers {
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		var id int64
		if err := conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		wg.Add(1)
		go func(conn *sql.Conn) {
			defer wg.Done()
			var r int
			_ = conn.QueryRowContext(ctx, "SELECT SLEEP(120)").Scan(&r) // ends when killed
		}(conn)
	}
	killed := false
	kill := func() {
		if killed {
			return
		}
		killed = true
		for _, id := range ids {
			my.Exec(t, fmt.Sprintf("KILL QUERY %d", id))
		}
		wg.Wait()
	}
	defer kill()
	// Wait for the sleepers to run: no bound on how fast, only that it ends.
	for {
		var name string
		var running int
		if err := db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Threads_running'").Scan(&name, &running); err != nil {
			t.Fatal(err)
		}
		if running > sleepers {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the sleeping queries never ran")
		}
		time.Sleep(10 * time.Millisecond)
	}

	var logs testenv.LogBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	paused, done := pausedRun(ctx, t, l, n, Throttle{MaxThreadsRunning: 2}, log)
	select {
	case p := <-paused:
		if !strings.Contains(p.Paused, "legacy: ") || !strings.Contains(p.Paused, "max_threads_running 2") {
			t.Errorf("progress says paused for %q, want the legacy server's running queries", p.Paused)
		}
	case o := <-done:
		t.Fatalf("finished without a pause while %d queries sleep: %+v, %v", sleepers, o.res, o.err)
	case <-ctx.Done():
		t.Fatal("no pause reported")
	}
	kill()
	var o outcome
	select {
	case o = <-done:
	case <-ctx.Done():
		t.Fatal("did not resume once the sleeping queries ended")
	}
	if o.err != nil {
		t.Fatal(o.err)
	}
	checkDiffs(t, o.res, want)
	st := o.res.Stats
	if st.LegacyRows != plain.Stats.LegacyRows || st.NewRows != plain.Stats.NewRows {
		t.Errorf("throttled run checked %d/%d rows, unthrottled %d/%d", st.LegacyRows, st.NewRows,
			plain.Stats.LegacyRows, plain.Stats.NewRows)
	}
	if st.Pauses < 1 || st.Paused <= 0 {
		t.Errorf("stats: %d pauses, %s paused", st.Pauses, st.Paused)
	}
	text := logs.String()
	for _, w := range []string{`msg="reconcile paused"`, "max_threads_running 2", `msg="reconcile resumed"`, "component=reconcile"} {
		if !strings.Contains(text, w) {
			t.Errorf("log lacks %q:\n%s", w, text)
		}
	}
}

// testPauseFile: reconcile waits while the pause file exists and finishes
// once it is removed.
func testPauseFile(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres, want []string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, n := sides(t, ctx, my, pg, thrLegacy, thrNew)
	file := filepath.Join(t.TempDir(), "pause")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	paused, done := pausedRun(ctx, t, l, n, Throttle{PauseFile: file}, slog.New(slog.DiscardHandler))
	select {
	case p := <-paused:
		if want := "pause file " + file + " exists"; p.Paused != want || p.Rows != 0 {
			t.Errorf("progress %+v, want paused for %q before any row", p, want)
		}
	case o := <-done:
		t.Fatalf("finished while the pause file exists: %+v, %v", o.res, o.err)
	case <-ctx.Done():
		t.Fatal("no pause reported")
	}
	select {
	case o := <-done:
		t.Fatalf("finished while the pause file exists: %+v, %v", o.res, o.err)
	default:
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	select {
	case o := <-done:
		if o.err != nil {
			t.Fatal(o.err)
		}
		checkDiffs(t, o.res, want)
		if o.res.Stats.Pauses != 1 {
			t.Errorf("%d pauses, want 1", o.res.Stats.Pauses)
		}
	case <-ctx.Done():
		t.Fatal("did not finish once the pause file was removed")
	}
}

// testSizedRanges: with ranges sized by query time (a target small enough
// to make many of them), reconcile covers every key once: exactly the
// planted differences, every row counted once.
func testSizedRanges(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres, want []string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, n := sides(t, ctx, my, pg, thrLegacy, thrNew)
	res, err := Run(ctx, Config{Legacy: l, New: n, Parallel: 3, Throttle: Throttle{MaxQuery: 5 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	checkDiffs(t, res, want)
	if res.Stats.LegacyRows != 19_999 || res.Stats.NewRows != 19_999 {
		t.Errorf("rows %d / %d, want 19999 each", res.Stats.LegacyRows, res.Stats.NewRows)
	}
	t.Logf("%d checksum queries", res.Stats.Checksums)
}

// testRateLimit: a run limited to 10,000 rows/s reads its 20,000 rows per
// side no faster than twice that (the ranges of the first round start at
// once), however fast the machine; unlimited, it takes a fraction of it.
func testRateLimit(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres, want []string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, n := sides(t, ctx, my, pg, thrLegacy, thrNew)
	const limit = 10_000
	res, err := Run(ctx, Config{Legacy: l, New: n, Parallel: 2, Throttle: Throttle{RateLimit: limit}})
	if err != nil {
		t.Fatal(err)
	}
	checkDiffs(t, res, want)
	st := res.Stats
	if rate := float64(st.LegacyRows) / st.Wall.Seconds(); rate > 2*limit {
		t.Errorf("%d rows in %s: %.0f rows/s with --rate-limit %d", st.LegacyRows, st.Wall, rate, limit)
	}
	if st.RateWait <= 0 {
		t.Errorf("never waited for the rate limit")
	}
}

// TestWindowAndThrottle starts one MariaDB and one PostgreSQL for the
// window and throttle cases.
func TestWindowAndThrottle(t *testing.T) {
	my, pg := servers(t)
	t.Run("where and min_age", func(t *testing.T) { testWindow(t, my, pg) })
	t.Run("where refused", func(t *testing.T) { testWhereRefused(t, my, pg) })
	want := throttleTables(t, my, pg)
	t.Run("threads running", func(t *testing.T) { testThrottleLoad(t, my, pg, want) })
	t.Run("pause file", func(t *testing.T) { testPauseFile(t, my, pg, want) })
	t.Run("max query time", func(t *testing.T) { testSizedRanges(t, my, pg, want) })
	t.Run("rate limit", func(t *testing.T) { testRateLimit(t, my, pg, want) })
}
