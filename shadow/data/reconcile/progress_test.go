package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/internal/testenv"
)

// gatedSide is a real side whose Estimate, and first Checksums, wait for
// a gate: the test opens each gate only once a progress report of the
// phase it wants to see has arrived, so both phases are reported however
// busy the machine is (a slow estimate under load is what once reported
// "pass 0 of 0 ranges").
type gatedSide struct {
	Side
	estimate, checksums <-chan struct{}
	once                sync.Once
}

func (g *gatedSide) Estimate(ctx context.Context) (int64, error) {
	if err := wait(ctx, g.estimate); err != nil {
		return 0, err
	}
	return g.Side.Estimate(ctx)
}

func (g *gatedSide) Checksums(ctx context.Context, lo, hi, step int64, m Method) (map[int64]Sum, error) {
	var err error
	g.once.Do(func() { err = wait(ctx, g.checksums) })
	if err != nil {
		return nil, err
	}
	return g.Side.Checksums(ctx, lo, hi, step, m)
}

func wait(ctx context.Context, gate <-chan struct{}) error {
	select {
	case <-gate:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("gate never opened: %w", ctx.Err())
	case <-time.After(30 * time.Second):
		return errors.New("gate never opened: no progress report in 30s")
	}
}

// testProgressPhases holds the estimate until the estimating phase has
// been reported, and the first checksum until a pass has been: the
// reports must then be the estimating phase (pass 0, no counts) followed
// by passes from 1 on, never a pass 0 outside the estimating phase.
func testProgressPhases(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const rows = 2000
	my.Exec(t, "CREATE TABLE progress (id BIGINT PRIMARY KEY, v INT NOT NULL)")
	my.Exec(t, fmt.Sprintf("INSERT INTO progress SELECT seq, seq %% 7 FROM seq_1_to_%d", rows))
	my.Exec(t, "ANALYZE TABLE progress")
	pg.Exec(t, "CREATE TABLE progress (legacy_id bigint PRIMARY KEY, v int NOT NULL)")
	pg.Exec(t, fmt.Sprintf("INSERT INTO progress SELECT s, s %% 7 FROM generate_series(1, %d) s", rows))
	pg.Exec(t, "ANALYZE progress")
	l, n := sides(t, ctx, my, pg,
		Table{Name: "ficus.progress", Key: "id", Columns: []string{"v"}},
		Table{Name: "public.progress", Key: "legacy_id", Columns: []string{"v"}})

	estimating, comparing := make(chan struct{}), make(chan struct{})
	var closeEstimating, closeComparing sync.Once
	var mu sync.Mutex
	var progress []Progress
	report := func(p Progress) {
		mu.Lock()
		progress = append(progress, p)
		mu.Unlock()
		switch p.Phase {
		case PhaseEstimating:
			closeEstimating.Do(func() { close(estimating) })
		case PhaseComparing:
			closeComparing.Do(func() { close(comparing) })
		}
	}
	gated := &gatedSide{Side: l, estimate: estimating, checksums: comparing}
	res, err := Run(ctx, Config{Legacy: gated, New: n, ProgressEvery: time.Millisecond, Progress: report})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Differences) != 0 {
		t.Errorf("%d differences between equal tables", len(res.Differences))
	}
	mu.Lock()
	defer mu.Unlock()
	checkProgress(t, progress, rows)
	if progress[0].Phase != PhaseEstimating || progress[len(progress)-1].Phase != PhaseComparing {
		t.Errorf("first report %+v, last %+v: want the estimating phase, then passes", progress[0], progress[len(progress)-1])
	}
}
