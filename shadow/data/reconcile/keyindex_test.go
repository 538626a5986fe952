package reconcile

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// TestMariaOwnOrder: only a byte-order collation without padding orders
// a text key as its bytes, and only a case-insensitive collation without
// tailoring orders UUIDs of either case as their lowercase text.
func TestMariaOwnOrder(t *testing.T) {
	cases := []struct {
		kind      canon.Kind
		typ, coll string
		own       bool
		fix       string
	}{
		{canon.KindText, "varchar", "utf8mb4_nopad_bin", true, ""},
		{canon.KindText, "mediumtext", "utf8mb4_nopad_bin", true, ""},
		{canon.KindText, "varchar", "utf8mb4_bin", false, "CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin"}, // PAD SPACE
		{canon.KindText, "varchar", "utf8mb4_general_ci", false, "CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin"},
		{canon.KindText, "varchar", "utf8mb3_nopad_bin", false, "CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin"}, // parameters may be 4-byte
		{canon.KindText, "varchar", "latin1_nopad_bin", false, "CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin"},  // cp1252 bytes
		{canon.KindText, "char", "utf8mb4_nopad_bin", false, ""},
		{canon.KindText, "enum", "utf8mb4_nopad_bin", false, ""},
		{canon.KindUUID, "char", "utf8mb4_general_ci", true, ""},
		{canon.KindUUID, "varchar", "latin1_swedish_ci", true, ""},
		{canon.KindUUID, "char", "utf8mb4_bin", false, "CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"},
		{canon.KindUUID, "char", "utf8mb4_danish_ci", false, "CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"},
		{canon.KindDate, "varchar", "utf8mb4_nopad_bin", false, ""},
	}
	for _, c := range cases {
		own, why, fix := mariaOwnOrder(c.kind, c.typ, keyColumnInfo{collation: c.coll})
		if own != c.own || fix != c.fix || own == (why != "") {
			t.Errorf("%s %s %s: own %v why %q fix %q, want own %v fix %q", c.kind, c.typ, c.coll, own, why, fix, c.own, c.fix)
		}
	}
}

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
	if !maps(fixes, wantFixes) {
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

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
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

// testUUIDCollations is the proof behind mariaUUIDCollations: under each
// (the ones this server has), thousands of random UUIDs of mixed case in
// a CHAR(36) key are ordered by the column itself (tupleIndex decides
// so), and the rows of random key ranges come back exactly as Go's
// filter and canon.CompareKeys place their canonical keys. A value that
// is not a UUID makes tupleIndex refuse the column's order, and one
// written after the check is refused when read.
func testUUIDCollations(t *testing.T, my *testenv.MariaDB) {
	colls := make([]string, 0, len(mariaUUIDCollations))
	for c := range mariaUUIDCollations {
		colls = append(colls, c)
	}
	slices.Sort(colls)
	for i, coll := range colls {
		t.Run(coll, func(t *testing.T) {
			t.Parallel()
			if my.QueryString(t, "SELECT COUNT(*) FROM information_schema.collations WHERE collation_name = ?", coll) != "1" {
				t.Skipf("no collation %s on this server", coll)
			}
			testUUIDCollation(t, my, coll, fmt.Sprintf("kuuid%d", i), i == 0)
		})
	}
}

func testUUIDCollation(t *testing.T, my *testenv.MariaDB, coll, table string, malformed bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	charset, _, _ := strings.Cut(coll, "_")
	my.Exec(t, "CREATE TABLE "+table+" (id CHAR(36) CHARACTER SET "+charset+" COLLATE "+coll+" NOT NULL PRIMARY KEY, v INT)")
	rng := rand.New(rand.NewPCG(uint64(len(table)), uint64(len(coll))))
	randomUUID := func(mixed bool) string {
		b := []byte(md5UUID(rng.Int()))
		for i := range b {
			if mixed && rng.IntN(2) == 0 {
				b[i] = strings.ToUpper(string(b[i]))[0]
			}
		}
		return string(b)
	}
	kinds := []canon.Kind{canon.KindUUID}
	var keys []canon.Key
	for batch := 0; batch < 6; batch++ {
		vals := make([]string, 500)
		for i := range vals {
			u := randomUUID(true)
			keys = append(keys, canon.Key{strings.ToLower(u)})
			vals[i] = fmt.Sprintf("('%s', %d)", u, len(keys))
		}
		my.Exec(t, "INSERT INTO "+table+" VALUES "+strings.Join(vals, ", "))
	}
	slices.SortFunc(keys, func(a, b canon.Key) int { return canon.CompareKeys(kinds, a, b) })

	side := func() *MariaDB {
		db, err := OpenMariaDB(ctx, my.DSN(), 2)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		m, err := NewMariaDB(MariaDBConfig{DB: db, Table: Table{Name: "ficus." + table, KeyColumns: []string{"id"}, Columns: []string{"v"}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Describe(ctx); err != nil {
			t.Fatal(err)
		}
		if err := m.Prepare([]canon.Kind{canon.KindInteger}); err != nil {
			t.Fatal(err)
		}
		if err := m.prepareTuple(kinds); err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := side()
	if a, err := m.tupleIndex(ctx, false); err != nil || m.tupleIndexed() {
		t.Fatalf("unbounded: indexed %v (%v): the column was not checked, its order must not be used", m.tupleIndexed(), err)
	} else if a == nil {
		t.Fatal("unbounded: no advice")
	}
	if a, err := m.tupleIndex(ctx, true); err != nil || a != nil || !m.tupleIndexed() {
		t.Fatalf("bounded: advice %+v, %v, indexed %v: want the column's own order", a, err, m.tupleIndexed())
	}
	tuples := func(rows []Row) []canon.Key {
		out := make([]canon.Key, len(rows))
		for i, r := range rows {
			out[i] = r.Tuple
		}
		return out
	}
	all, err := m.tupleRows(ctx, keyRange{})
	if err != nil {
		t.Fatal(err)
	}
	if got := tuples(all); !slices.EqualFunc(got, keys, slices.Equal) {
		t.Fatalf("ORDER BY id under %s is not canonical key order", coll)
	}
	bound := func() canon.Key {
		switch rng.IntN(5) {
		case 0:
			return nil
		case 1:
			return canon.Key{strings.ToLower(randomUUID(false))}
		}
		return keys[rng.IntN(len(keys))]
	}
	for range 100 {
		kr := keyRange{lo: bound(), hi: bound()}
		var want []canon.Key
		for _, k := range keys {
			if (kr.lo == nil || canon.CompareKeys(kinds, k, kr.lo) > 0) && (kr.hi == nil || canon.CompareKeys(kinds, k, kr.hi) <= 0) {
				want = append(want, k)
			}
		}
		rows, err := m.tupleRows(ctx, kr)
		if err != nil {
			t.Fatal(err)
		}
		if got := tuples(rows); !slices.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("range %s under %s: %d rows, Go's filter %d", kr, coll, len(got), len(want))
		}
	}
	if !malformed {
		return
	}
	// A value written after the check is refused when read, never placed.
	my.Exec(t, "INSERT INTO "+table+" VALUES ('not a uuid', -1)")
	if _, err := m.tupleRows(ctx, keyRange{}); err == nil || !strings.Contains(err.Error(), "not a UUID") {
		t.Errorf("a malformed key read through the column's order: %v", err)
	}
	// One present at the start: the column's order is not used.
	m = side()
	a, err := m.tupleIndex(ctx, true)
	if err != nil || a == nil || m.tupleIndexed() || !strings.Contains(a.why, "not well-formed UUIDs") || a.ddl != "" {
		t.Fatalf("with a malformed value: advice %+v, %v, indexed %v", a, err, m.tupleIndexed())
	}
	if all, err := m.tupleRows(ctx, keyRange{}); err != nil || len(all) != len(keys)+1 {
		t.Errorf("by the canonical text's order: %d rows, %v", len(all), err)
	}
}

// testPostgresCollations: which PostgreSQL text keys are read from their
// own primary key in canonical order: text and varchar under a byte-order
// collation (ordered by the column itself); not char(n), whose text cast
// trims, nor a collation PostgreSQL sorts through a library, until the
// expression index the advice names exists. Either way a narrow range's
// conditions are an index range scan.
func testPostgresCollations(t *testing.T, pg *testenv.Postgres) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := OpenPostgres(ctx, pg.DSN(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close(context.Background())
	cases := []struct {
		col     string
		indexed bool
	}{
		{`text`, true}, // the test cluster's default collation is C
		{`text COLLATE "C"`, true},
		{`varchar(20) COLLATE "POSIX"`, true},
		{`text COLLATE "ucs_basic"`, true},
		{`char(8) COLLATE "C"`, false},
		{`text COLLATE "C.utf8"`, false},
		{`text COLLATE "en-US-x-icu"`, false},
	}
	for i, c := range cases {
		table := fmt.Sprintf("kpg%d", i)
		pg.Exec(t, "CREATE TABLE "+table+" (k "+c.col+" NOT NULL PRIMARY KEY, v int)")
		pg.Exec(t, "INSERT INTO "+table+" SELECT (ARRAY['k', 'K', 'a', 'é', 'É', 'z', 'ẞ', '😀', '~'])[s % 9 + 1] || s, s FROM generate_series(1, 2000) s")
		pg.Exec(t, "ANALYZE "+table)
		p, err := NewPostgres(PostgresConfig{Pool: pool, Table: Table{Name: "public." + table, KeyColumns: []string{"k"}, Columns: []string{"v"}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Describe(ctx); err != nil {
			t.Fatal(err)
		}
		if err := p.Prepare([]canon.Kind{canon.KindInteger}); err != nil {
			t.Fatal(err)
		}
		if err := p.prepareTuple([]canon.Kind{canon.KindText}); err != nil {
			t.Fatal(err)
		}
		a, err := p.tupleIndex(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		if p.tupleIndexed() != c.indexed || (a == nil) != c.indexed {
			t.Errorf("%s: indexed %v, advice %+v; want indexed %v", c.col, p.tupleIndexed(), a, c.indexed)
			continue
		}
		if !c.indexed {
			// The advice's index makes it so.
			pg.Exec(t, a.ddl)
			if a, err := p.tupleIndex(ctx, true); err != nil || a != nil || !p.tupleIndexed() {
				t.Errorf("%s after %s: indexed %v, advice %+v, %v", c.col, a.ddl, p.tupleIndexed(), a, err)
			}
		}
		params := canon.NewParams(canon.Postgres)
		plan := pg.QueryString(t, "EXPLAIN (FORMAT JSON) SELECT count(*) FROM public."+table+p.tq.where(params, keyRange{lo: canon.Key{"k100"}, hi: canon.Key{"k101"}}), params.Args...)
		if strings.Contains(plan, "Seq Scan") || !strings.Contains(plan, "Index Cond") {
			t.Errorf("%s: a narrow range is not an index range scan:\n%s", c.col, plan)
		}
		// The key order and ranges are canonical: as CompareKeys and Go's
		// filter have them.
		all, err := p.tupleRows(ctx, keyRange{})
		if err != nil {
			t.Fatal(err)
		}
		kinds := []canon.Kind{canon.KindText}
		if len(all) != 2000 || !slices.IsSortedFunc(all, func(a, b Row) int { return canon.CompareKeys(kinds, a.Tuple, b.Tuple) }) {
			t.Errorf("%s: %d rows, not in canonical key order", c.col, len(all))
		}
		for _, kr := range []keyRange{{lo: canon.Key{"K5"}, hi: canon.Key{"é9"}}, {lo: canon.Key{"a"}, hi: canon.Key{"ẞ"}}, {lo: canon.Key{"É1"}}} {
			got, err := p.tupleRows(ctx, kr)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, r := range all {
				if canon.CompareKeys(kinds, r.Tuple, kr.lo) > 0 && (kr.hi == nil || canon.CompareKeys(kinds, r.Tuple, kr.hi) <= 0) {
					n++
				}
			}
			if len(got) != n || n == 0 {
				t.Errorf("%s: range %s holds %d rows, Go's filter %d", c.col, kr, len(got), n)
			}
		}
	}
}

// testMariaDBNoIndex: a key ordered by its own column (utf8mb4_nopad_bin)
// is read from an index only where one gives that order: without one the
// side says so and names the index, which then makes it so.
func testMariaDBNoIndex(t *testing.T, my *testenv.MariaDB) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	my.Exec(t, "CREATE TABLE knoidx (k VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL, v INT)")
	my.Exec(t, "INSERT INTO knoidx SELECT CONCAT('k', seq), seq FROM seq_1_to_2000")
	db, err := OpenMariaDB(ctx, my.DSN(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m, err := NewMariaDB(MariaDBConfig{DB: db, Table: Table{Name: "ficus.knoidx", KeyColumns: []string{"k"}, Columns: []string{"v"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Describe(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Prepare([]canon.Kind{canon.KindInteger}); err != nil {
		t.Fatal(err)
	}
	if err := m.prepareTuple([]canon.Kind{canon.KindText}); err != nil {
		t.Fatal(err)
	}
	a, err := m.tupleIndex(ctx, true)
	if err != nil || a == nil || m.tupleIndexed() || a.ddl != "CREATE INDEX ficus_key ON `ficus`.`knoidx` (`k`)" {
		t.Fatalf("without an index: advice %+v, %v, indexed %v", a, err, m.tupleIndexed())
	}
	my.Exec(t, a.ddl)
	if a, err := m.tupleIndex(ctx, true); err != nil || a != nil || !m.tupleIndexed() {
		t.Errorf("with the index: advice %+v, %v, indexed %v", a, err, m.tupleIndexed())
	}
}
