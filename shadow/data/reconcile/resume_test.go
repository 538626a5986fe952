package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/internal/testenv"
)

// testResumeEveryState runs a comparison that needs several passes (6,000
// rows, 12 planted differences, 4 segments, leaves of 8 rows) and keeps
// every Checkpoint, then continues the run from each kept state as if the
// process had died right after that save: each continued run finds exactly
// the uninterrupted run's differences and rows, and with ranges cut by
// count (no MaxQuery) its own range scans plus the kept ones are exactly
// the uninterrupted run's: no finished range is scanned again, none is
// skipped. With MaxQuery (ranges sized as they go, the rest of the key
// space kept as one range) the differences must match as well.
func testResumeEveryState(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	my.Exec(t, "CREATE TABLE resume (id BIGINT PRIMARY KEY, v INT)")
	my.Exec(t, "INSERT INTO resume SELECT seq, seq FROM seq_1_to_6000")
	pg.Exec(t, "CREATE TABLE resume (id bigint PRIMARY KEY, v int)")
	pg.Exec(t, "INSERT INTO resume SELECT s, s FROM generate_series(1, 6000) s")
	pg.Exec(t, "UPDATE resume SET v = -v WHERE id IN (3, 500, 501, 1999, 2500, 3001, 4444, 5999)")
	pg.Exec(t, "DELETE FROM resume WHERE id IN (17, 3500)")
	pg.Exec(t, "INSERT INTO resume VALUES (6001, 1), (7000, 2)")
	l, n := sides(t, ctx, my, pg,
		Table{Name: "ficus.resume", Key: "id", Columns: []string{"v"}},
		Table{Name: "public.resume", Key: "id", Columns: []string{"v"}})
	for _, c := range []struct {
		name  string
		throt Throttle
	}{
		{"ranges by count", Throttle{}},
		{"ranges by query time", Throttle{MaxQuery: 5 * time.Millisecond}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{Legacy: l, New: n, Segments: 4, LeafRows: 8, Parallel: 3, Throttle: c.throt}
			var mu sync.Mutex
			var kept []Checkpoint
			cfg.Checkpoint = func(_ context.Context, cp Checkpoint) error {
				mu.Lock()
				kept = append(kept, cp)
				mu.Unlock()
				return nil
			}
			full, err := Run(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(full.Differences) != 12 {
				t.Fatalf("uninterrupted run: %d differences, want 12: %+v", len(full.Differences), full.Differences)
			}
			var passes []int
			for _, k := range kept {
				passes = append(passes, k.State.Pass)
			}
			if slices.Max(passes) < 3 || len(kept) < 10 {
				t.Fatalf("%d states kept in passes %v: not enough passes to test", len(kept), slices.Compact(passes))
			}
			cfg.Checkpoint = nil
			var found []Difference
			for i, k := range kept {
				found = append(found, k.Found...)
				s := k.State
				s.Differences = slices.Clone(found)
				cfg.Resume = &s
				res, err := Run(ctx, cfg)
				if err != nil {
					t.Fatalf("resumed from state %d: %v", i, err)
				}
				if got, want := brief(res.Differences), brief(full.Differences); !slices.Equal(got, want) {
					t.Fatalf("resumed from state %d (pass %d): differences %q, want %q", i, s.Pass, got, want)
				}
				if res.Stats.LegacyRows != full.Stats.LegacyRows || res.Stats.NewRows != full.Stats.NewRows {
					t.Errorf("resumed from state %d: rows %d/%d, want %d/%d", i, res.Stats.LegacyRows, res.Stats.NewRows,
						full.Stats.LegacyRows, full.Stats.NewRows)
				}
				if !res.Stats.Resumed || res.Stats.EarlierChecksums != s.Checksums {
					t.Errorf("resumed from state %d: stats %+v, kept checksums %d", i, res.Stats, s.Checksums)
				}
				if c.throt.MaxQuery == 0 && res.Stats.Checksums+s.Checksums != full.Stats.Checksums {
					t.Errorf("resumed from state %d (pass %d): %d range scans + %d kept, the uninterrupted run took %d",
						i, s.Pass, res.Stats.Checksums, s.Checksums, full.Stats.Checksums)
				}
			}
			// Progress of another comparison is refused.
			other := kept[0].State
			other.Fingerprint = "other"
			cfg.Resume = &other
			if _, err := Run(ctx, cfg); !errors.Is(err, ErrOtherComparison) {
				t.Errorf("resume with another fingerprint: %v, want ErrOtherComparison", err)
			}
		})
	}
}

func brief(ds []Difference) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = fmt.Sprintf("%s (%d values)", d.Brief(), len(d.LegacyRow)+len(d.NewRow))
	}
	return out
}
