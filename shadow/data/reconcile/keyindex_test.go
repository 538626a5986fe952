package reconcile

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// testKeyIndex runs the key index cases in parallel on the shared servers.
func testKeyIndex(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres) {
	t.Run("collations and their fixes", func(t *testing.T) {
		t.Parallel()
		testKeyIndexFixes(t, my, pg)
	})
	t.Run("uuid texts", func(t *testing.T) {
		t.Parallel()
		testUUIDCollations(t, my)
	})
	t.Run("postgres collations", func(t *testing.T) {
		t.Parallel()
		testPostgresCollations(t, pg)
	})
	t.Run("mariadb key without an index", func(t *testing.T) {
		t.Parallel()
		testMariaDBNoIndex(t, my)
	})
	t.Run("utf8mb4_bin pads", func(t *testing.T) {
		t.Parallel()
		// Why utf8mb4_bin is refused: PAD SPACE makes 'a' and 'a ' one
		// value and puts 'a\t' before 'a', where the bytes put it after.
		got := my.QueryString(t, "SELECT CONCAT('a' = 'a ' COLLATE utf8mb4_bin, ' ', 'a\\t' < 'a' COLLATE utf8mb4_bin, ' ', 'a' = 'a ' COLLATE utf8mb4_nopad_bin)")
		if got != "1 1 0" {
			t.Errorf("utf8mb4_bin 'a' = 'a ', 'a\\t' < 'a'; nopad 'a' = 'a ': %s, want 1 1 0", got)
		}
		if canon.CompareKeys([]canon.Kind{canon.KindText}, canon.Key{"a\t"}, canon.Key{"a"}) <= 0 {
			t.Error("canonical order puts 'a\\t' before 'a'")
		}
	})
}

// testKeyIndexFixes: a text key under MariaDB utf8mb4_general_ci and
// under PostgreSQL's ICU "en-US-x-icu" (where 'a' < 'B' < 'b', not the
// bytes' order) cannot be bounded: the run says so once per side with
// the DDL to run, and finds the planted differences by whole scans.
// After exactly that DDL, both sides read ranges from an index (the
// range conditions too, by EXPLAIN), the first level is walked in
// several ranges, and the same differences are found.
func testKeyIndexFixes(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if pg.QueryString(t, "SELECT count(*)::text FROM pg_collation WHERE collname = 'en-US-x-icu'") != "1" {
		t.Skip("no ICU collation en-US-x-icu in this PostgreSQL")
	}
	const rows = 6000
	prefixes := []string{"a", "A", "b", "B", "é", "É"}
	my.Exec(t, "CREATE TABLE kidx (k VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL, v INT, KEY (k))")
	my.Exec(t, fmt.Sprintf("INSERT INTO kidx SELECT CONCAT(ELT(seq %% 6 + 1, 'a', 'A', 'b', 'B', 'é', 'É'), seq DIV 6), seq FROM seq_1_to_%d", rows))
	pg.Exec(t, `CREATE TABLE kidx (k text COLLATE "en-US-x-icu" NOT NULL PRIMARY KEY, v int)`)
	pg.Exec(t, fmt.Sprintf("INSERT INTO kidx SELECT (ARRAY['a', 'A', 'b', 'B', 'é', 'É'])[s %% 6 + 1] || (s / 6)::text, s FROM generate_series(1, %d) s", rows))
	if got := pg.QueryString(t, "SELECT string_agg(k, ' ' ORDER BY k) FROM kidx WHERE k IN ('a1', 'A1', 'b1', 'B1')"); got != "a1 A1 b1 B1" {
		t.Fatalf("en-US-x-icu orders %q: not the order this test is about", got)
	}
	var want []Difference
	for i := range 12 {
		s := 7 + i*487
		k := canon.Key{prefixes[s%6] + strconv.Itoa(s/6)}
		switch i % 3 {
		case 0:
			pg.Exec(t, "DELETE FROM kidx WHERE v = $1", s)
			want = append(want, Difference{Tuple: k, Kind: MissingInNew})
		case 1:
			my.Exec(t, "DELETE FROM kidx WHERE v = ?", s)
			want = append(want, Difference{Tuple: k, Kind: MissingInLegacy})
		case 2:
			pg.Exec(t, "UPDATE kidx SET v = -v WHERE v = $1", s)
			want = append(want, Difference{Tuple: k, Kind: Differs, Columns: []ColumnDiff{{Legacy: "v", New: "v",
				LegacyVal: canon.Value{Text: strconv.Itoa(s)}, NewVal: canon.Value{Text: strconv.Itoa(-s)}}}})
		}
	}
	pg.Exec(t, "ANALYZE kidx")
	kinds := []canon.Kind{canon.KindText}
	slices.SortFunc(want, func(a, b Difference) int { return canon.CompareKeys(kinds, a.Tuple, b.Tuple) })
	briefs := tupleBriefs(want)

	l, n := sides(t, ctx, my, pg,
		Table{Name: "ficus.kidx", KeyColumns: []string{"k"}, Columns: []string{"v"}},
		Table{Name: "public.kidx", KeyColumns: []string{"k"}, Columns: []string{"v"}})
	var logs testenv.LogBuffer
	var mu sync.Mutex
	var kept []Checkpoint
	// Two at a time: the walk's rest is still there when the first
	// ranges finish (see walked).
	cfg := Config{Legacy: l, New: n, Segments: 8, LeafRows: 100, BucketRows: 1000, Parallel: 2,
		Log: slog.New(slog.NewJSONHandler(&logs, nil)),
		Checkpoint: func(_ context.Context, cp Checkpoint) error {
			mu.Lock()
			kept = append(kept, cp)
			mu.Unlock()
			return nil
		}}
	cfg.Throttle.MaxQuery = 2 * time.Millisecond
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := tupleBriefs(res.Differences); !slices.Equal(got, briefs) {
		t.Fatalf("before the fix: differences\n got %q\nwant %q", got, briefs)
	}
	fixes := keyAdvices(t, logs.String())
	wantFixes := map[string]string{
		"legacy": "ALTER TABLE `ficus`.`kidx` MODIFY `k` varchar(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL -- keep the column's other attributes",
		"new":    `CREATE INDEX CONCURRENTLY ON "public"."kidx" ((("k"::text) COLLATE "C"))`,
	}
	if !maps.Equal(fixes, wantFixes) {
		t.Fatalf("logged fixes %q, want %q\nlog:\n%s", fixes, wantFixes, logs.String())
	}
	if walked(kept) > 0 {
		t.Errorf("walked before the fix")
	}

	my.Exec(t, fixes["legacy"])
	pg.Exec(t, fixes["new"])
	pg.Exec(t, "ANALYZE kidx")
	logs = testenv.LogBuffer{}
	kept = nil
	res, err = Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := tupleBriefs(res.Differences); !slices.Equal(got, briefs) {
		t.Errorf("after the fix: differences\n got %q\nwant %q", got, briefs)
	}
	if res.Stats.LegacyRows != rows-4 || res.Stats.NewRows != rows-4 {
		t.Errorf("after the fix: rows %d/%d, want %d each", res.Stats.LegacyRows, res.Stats.NewRows, rows-4)
	}
	if a := keyAdvices(t, logs.String()); len(a) > 0 {
		t.Errorf("after the fix, still logged: %q", a)
	}
	if !l.(tupleSide).tupleIndexed() || !n.(tupleSide).tupleIndexed() {
		t.Fatal("after the fix: a side still does not read its key from an index")
	}
	if w := walked(kept); w < 2 {
		t.Errorf("after the fix: %d states kept while walking the first level, want several", w)
	}

	// The range conditions use the new indexes: a narrow range is an index
	// range scan on both servers, never a scan of the table.
	kr := keyRange{lo: canon.Key{"B100"}, hi: canon.Key{"a120"}}
	np := n.(*Postgres)
	p := canon.NewParams(canon.Postgres)
	plan := pg.QueryString(t, "EXPLAIN (FORMAT JSON) SELECT count(*) FROM public.kidx"+np.tq.where(p, kr), p.Args...)
	if strings.Contains(plan, "Seq Scan") || strings.Contains(plan, "kidx_pkey") || !strings.Contains(plan, "Index Cond") {
		t.Errorf("postgres range plan is not an index range scan on the expression:\n%s", plan)
	}
	lm := l.(*MariaDB)
	p = canon.NewParams(canon.MySQL)
	var typ, key sql.NullString
	row := lm.cfg.DB.QueryRowContext(ctx, "EXPLAIN SELECT COUNT(*) FROM ficus.kidx"+lm.tq.where(p, kr), p.Args...)
	var id, rowsEst sql.NullInt64
	var selType, table, possible, keyLen, ref, extra sql.NullString
	if err := row.Scan(&id, &selType, &table, &typ, &possible, &key, &keyLen, &ref, &rowsEst, &extra); err != nil {
		t.Fatal(err)
	}
	if typ.String != "range" || key.String != "k" {
		t.Errorf("mariadb range plan: type %q key %q, want a range of index k", typ.String, key.String)
	}
}

// keyAdvices returns the fix logged for each side whose ranges cannot be
// bounded.
func keyAdvices(t *testing.T, log string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		var rec struct {
			Msg, Side, Fix, Component string
		}
		if line == "" || json.Unmarshal([]byte(line), &rec) != nil || !strings.HasPrefix(rec.Msg, "max_query_seconds cannot bound") {
			continue
		}
		if _, dup := out[rec.Side]; dup || rec.Component != "reconcile" {
			t.Errorf("logged twice or without the component: %s", line)
		}
		out[rec.Side] = rec.Fix
	}
	return out
}

// walked counts the states kept in the first pass while the walk's rest
// remained: none unless the first level was walked.
func walked(kept []Checkpoint) int {
	n := 0
	for _, k := range kept {
		if k.State.Pass == 1 && slices.ContainsFunc(k.State.TupleTodo, func(s SavedTuple) bool { return s.Rest }) {
			n++
		}
	}
	return n
}

// prepareTupleSide describes and prepares s for a key compared by tuples
// of kinds, as Run does.
func prepareTupleSide(t *testing.T, ctx context.Context, s interface {
	Side
	tupleSide
}, kinds []canon.Kind) {
	t.Helper()
	if _, err := s.Describe(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Prepare([]canon.Kind{canon.KindInteger}); err != nil {
		t.Fatal(err)
	}
	if err := s.prepareTuple(kinds); err != nil {
		t.Fatal(err)
	}
}
