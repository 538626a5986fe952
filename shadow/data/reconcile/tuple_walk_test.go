package reconcile

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/internal/testenv"
)

// testTupleSized runs every tuple case with ranges sized by query time (a
// target small enough to make many of them) in parallel on the shared
// servers.
func testTupleSized(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres) {
	eachTupleCase(t, my, pg, "tw", testTupleSizedCase)
}

// testTupleSizedCase: with Throttle.MaxQuery, a key read from an index on
// both sides has its first level walked (more than one first-level range,
// the rest kept as a Rest range), and the run finds exactly the
// differences and rows of the one-scan run; a key that is not read from
// an index is cut by one scan as without MaxQuery. A run continued from a
// state kept in the middle of the walk, with and without MaxQuery, finds
// the same. Where the case has one, a legacy key above all of new's is
// found too.
func testTupleSizedCase(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres, c tupleCase, table string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	planted := tupleTable(t, my, pg, c, table)
	if c.pastEnd != "" {
		// A key above all of the larger side's (new's, the estimates
		// being about equal): the walk's last range is open.
		my.Exec(t, "INSERT INTO "+table+" ("+strings.Join(c.keys, ", ")+", v) VALUES ("+c.pastEnd+", 0)")
		planted = append(planted, Difference{Tuple: c.pastEndKey, Kind: MissingInNew})
	}
	want := tupleBriefs(planted)
	l, n := sides(t, ctx, my, pg,
		Table{Name: "ficus." + table, KeyColumns: c.keys, Columns: []string{"v"}},
		Table{Name: "public." + table, KeyColumns: c.keys, Columns: []string{"v"}})
	cfg := Config{Legacy: l, New: n, Segments: 8, LeafRows: 300, BucketRows: 5000, Parallel: 4}
	scan, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := tupleBriefs(scan.Differences); !slices.Equal(got, want) {
		t.Fatalf("one scan: differences\n got %q\nwant %q", got, want)
	}

	var mu sync.Mutex
	var kept []Checkpoint
	cfg.Checkpoint = func(_ context.Context, cp Checkpoint) error {
		mu.Lock()
		kept = append(kept, cp)
		mu.Unlock()
		return nil
	}
	cfg.Throttle.MaxQuery = 2 * time.Millisecond
	sized, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := tupleBriefs(sized.Differences); !slices.Equal(got, want) {
		t.Errorf("sized: differences\n got %q\nwant %q", got, want)
	}
	// As the sized run found (a CHAR(36) UUID key is read by its own
	// order only when the run needs it: see MariaDB.tupleIndex).
	indexed := l.(tupleSide).tupleIndexed() && n.(tupleSide).tupleIndexed()
	if sized.Stats.LegacyRows != scan.Stats.LegacyRows || sized.Stats.NewRows != scan.Stats.NewRows {
		t.Errorf("sized: rows %d/%d, one scan %d/%d", sized.Stats.LegacyRows, sized.Stats.NewRows,
			scan.Stats.LegacyRows, scan.Stats.NewRows)
	}
	// Every first-level range finished keeps a state of pass 1.
	var first int
	var walking []int // states kept while the walk had a rest
	var found [][]Difference
	var all []Difference
	for i, k := range kept {
		all = append(all, k.Found...)
		found = append(found, slices.Clone(all))
		if k.State.Pass == 1 {
			first++
		}
		if slices.ContainsFunc(k.State.TupleTodo, func(s SavedTuple) bool { return s.Rest }) {
			walking = append(walking, i)
		}
	}
	t.Logf("%s: indexed %v, %d first-level ranges, %d checksums (one scan: %d)", c.name, indexed, first,
		sized.Stats.Checksums, scan.Stats.Checksums)
	if !indexed {
		if len(walking) > 0 {
			t.Errorf("a key not read from an index was walked")
		}
		return
	}
	if first < 3 || len(walking) < 2 {
		t.Fatalf("%d first-level ranges, %d states with a rest: the first level was not walked", first, len(walking))
	}
	cfg.Checkpoint = nil
	i := walking[len(walking)/2]
	for _, mq := range []time.Duration{2 * time.Millisecond, 0} {
		b, err := json.Marshal(kept[i].State)
		if err != nil {
			t.Fatal(err)
		}
		var s Saved
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		s.Differences = found[i]
		cfg.Resume, cfg.Throttle.MaxQuery = &s, mq
		res, err := Run(ctx, cfg)
		if err != nil {
			t.Fatalf("resumed from state %d, max query %s: %v", i, mq, err)
		}
		if got := tupleBriefs(res.Differences); !slices.Equal(got, want) {
			t.Errorf("resumed from state %d, max query %s: differences\n got %q\nwant %q", i, mq, got, want)
		}
		if res.Stats.LegacyRows != scan.Stats.LegacyRows || res.Stats.NewRows != scan.Stats.NewRows {
			t.Errorf("resumed from state %d, max query %s: rows %d/%d, want %d/%d", i, mq, res.Stats.LegacyRows,
				res.Stats.NewRows, scan.Stats.LegacyRows, scan.Stats.NewRows)
		}
	}
}
