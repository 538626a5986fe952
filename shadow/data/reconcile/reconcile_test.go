package reconcile

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// servers starts one MariaDB (legacy) and one PostgreSQL (new) at once.
func servers(t *testing.T) (*testenv.MariaDB, *testenv.Postgres) {
	t.Helper()
	var my *testenv.MariaDB
	var pg *testenv.Postgres
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pg = testenv.MustStartPostgres(t)
	}()
	my = testenv.MustStartMariaDB(t)
	wg.Wait()
	if pg == nil {
		t.FailNow()
	}
	return my, pg
}

// sides opens both tables for comparison.
func sides(t *testing.T, ctx context.Context, my *testenv.MariaDB, pg *testenv.Postgres, legacy, new Table) (Side, Side) {
	t.Helper()
	db, err := OpenMariaDB(ctx, my.DSN(), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	pool, err := OpenPostgres(ctx, pg.DSN(), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close(context.Background()) })
	l, err := NewMariaDB(MariaDBConfig{DB: db, Table: legacy})
	if err != nil {
		t.Fatal(err)
	}
	n, err := NewPostgres(PostgresConfig{Pool: pool, Table: new})
	if err != nil {
		t.Fatal(err)
	}
	return l, n
}

// typeCase is one column pair: the legacy and new column types, one value
// each (SQL literals), an optional rule, and whether they must compare equal.
type typeCase struct {
	name        string
	legacyType  string
	newType     string
	legacyVal   string
	newVal      string
	rule        canon.Rule
	equal       bool
	legacyCanon string // the canonical legacy value, after the rule
}

var typeCases = []typeCase{
	{"decimal trailing zeros", "DECIMAL(12,2)", "numeric", "12.50", "12.5", canon.Rule{}, true, "12.5"},
	{"decimal vs numeric differ", "DECIMAL(12,2)", "numeric(12,3)", "12.50", "12.501", canon.Rule{}, false, "12.5"},
	{"decimal zero", "DECIMAL(12,2)", "numeric(12,4)", "0.00", "0.0000", canon.Rule{}, true, "0"},
	{"int vs bigint", "INT", "bigint", "-42", "-42", canon.Rule{}, true, "-42"},
	{"int vs numeric", "INT", "numeric(10,2)", "7", "7.00", canon.Rule{}, true, "7"},
	{"datetime vs timestamptz other zone", "DATETIME(6)", "timestamptz", "'2024-03-01 10:00:00.123456'", "'2024-03-01 12:00:00.123456+02'", canon.Rule{}, true, "2024-03-01 10:00:00.123456"},
	{"datetime(0) vs timestamptz(3)", "DATETIME", "timestamptz(3)", "'2024-03-01 10:00:00'", "'2024-03-01 10:00:00.000+00'", canon.Rule{}, true, "2024-03-01 10:00:00.000000"},
	{"datetime one microsecond apart", "DATETIME(6)", "timestamptz", "'2024-03-01 10:00:00.000001'", "'2024-03-01 10:00:00+00'", canon.Rule{}, false, "2024-03-01 10:00:00.000001"},
	{"timestamp vs timestamp", "TIMESTAMP(3) NULL", "timestamp(3)", "'2024-03-01 10:00:00.5'", "'2024-03-01 10:00:00.500'", canon.Rule{}, true, "2024-03-01 10:00:00.500000"},
	{"date", "DATE", "date", "'2024-02-29'", "'2024-02-29'", canon.Rule{}, true, "2024-02-29"},
	{"json key order and spacing", "JSON", "jsonb", `'{"b": 1, "a": [1, 2.50]}'`, `'{"a":[1,2.5],"b":1}'`, canon.Rule{}, true, `{"a":[1,2.5],"b":1}`},
	{"json differs", "JSON", "jsonb", `'{"a": 1}'`, `'{"a": 2}'`, canon.Rule{}, false, `{"a":1}`},
	{"enum vs text", "ENUM('NEW','PAID')", "text", "'PAID'", "'PAID'", canon.Rule{}, true, "PAID"},
	{"enum vs pg enum", "ENUM('NEW','PAID')", "order_state", "'NEW'", "'NEW'", canon.Rule{}, true, "NEW"},
	{"text case matters", "VARCHAR(20)", "text", "'abc'", "'ABC'", canon.Rule{}, false, "abc"},
	{"latin1 text vs utf8", "VARCHAR(20) CHARACTER SET latin1", "text", "'café'", "'café'", canon.Rule{}, true, "café"},
	{"utf8mb4 text", "VARCHAR(20)", "varchar(20)", "'Straße 🌳'", "'Straße 🌳'", canon.Rule{}, true, "Straße 🌳"},
	{"null vs empty", "VARCHAR(20)", "text", "NULL", "''", canon.Rule{}, false, "NULL"},
	{"tinyint(1) vs boolean", "TINYINT(1)", "boolean", "1", "true", canon.Rule{}, true, "1"},
	{"tinyint(1) vs boolean differ", "TINYINT(1)", "boolean", "0", "true", canon.Rule{}, false, "0"},
	{"scale to cents", "DECIMAL(10,2)", "bigint", "12.34", "1234", canon.Rule{Scale: "100"}, true, "1234"},
	{"scale to cents differ", "DECIMAL(10,2)", "bigint", "12.34", "1235", canon.Rule{Scale: "100"}, false, "1234"},
	{"map", "VARCHAR(10)", "text", "'PAID'", "'paid'", canon.Rule{Map: map[string]string{"NEW": "created", "PAID": "paid"}}, true, "paid"},
	{"map is case-sensitive", "VARCHAR(10)", "text", "'paid'", "'created'", canon.Rule{Map: map[string]string{"NEW": "created", "PAID": "paid"}}, false, "paid"},
	{"map on a latin1 column, non-ASCII", "VARCHAR(10) CHARACTER SET latin1", "text", "'Payé'", "'payée'", canon.Rule{Map: map[string]string{"Payé": "payée"}}, true, "payée"},
	{"unmapped value kept", "VARCHAR(10)", "text", "'SHIPPED'", "'SHIPPED'", canon.Rule{Map: map[string]string{"NEW": "created"}}, true, "SHIPPED"},
	{"uuid char(36) upper case vs uuid", "CHAR(36)", "uuid", "'0CC175B9-C0F1-B6A8-31C3-99E269772661'", "'0cc175b9-c0f1-b6a8-31c3-99e269772661'", canon.Rule{}, true, "0cc175b9-c0f1-b6a8-31c3-99e269772661"},
	{"uuid binary(16) vs uuid", "BINARY(16)", "uuid", "UNHEX('0cc175b9c0f1b6a831c399e269772661')", "'0cc175b9-c0f1-b6a8-31c3-99e269772661'", canon.Rule{}, true, "0cc175b9-c0f1-b6a8-31c3-99e269772661"},
	{"uuid differs", "BINARY(16)", "uuid", "UNHEX('0cc175b9c0f1b6a831c399e269772661')", "'0cc175b9-c0f1-b6a8-31c3-99e269772662'", canon.Rule{}, false, "0cc175b9-c0f1-b6a8-31c3-99e269772661"},
	{"varbinary vs bytea", "VARBINARY(8)", "bytea", "X'00ff10'", "'\\x00ff10'", canon.Rule{}, true, "00ff10"},
}

// kindOK is false for the cases compared in Go only (JSON): their
// checksums are over raw text, which differs for equal documents.
func (c typeCase) kindOK() bool { return !strings.Contains(c.name, "json") }

// testNotNull puts every equal case with a value in one row of NOT NULL
// columns, which hash without COALESCE, and expects equal checksums.
func testNotNull(t *testing.T, ctx context.Context, my *testenv.MariaDB, pg *testenv.Postgres) {
	var lcols, ncols, lvals, nvals, names []string
	var rules []canon.Rule
	for i, c := range typeCases {
		if !c.equal || !c.kindOK() || c.legacyVal == "NULL" {
			continue
		}
		lcols = append(lcols, fmt.Sprintf("c%d %s NOT NULL", i, strings.TrimSuffix(c.legacyType, " NULL")))
		ncols = append(ncols, fmt.Sprintf("c%d %s NOT NULL", i, c.newType))
		lvals, nvals = append(lvals, c.legacyVal), append(nvals, c.newVal)
		names = append(names, fmt.Sprintf("c%d", i))
		rules = append(rules, c.rule)
	}
	my.Exec(t, "CREATE TABLE tnn (id BIGINT PRIMARY KEY, "+strings.Join(lcols, ", ")+")")
	pg.Exec(t, "CREATE TABLE tnn (legacy_id bigint PRIMARY KEY, "+strings.Join(ncols, ", ")+")")
	my.Exec(t, "INSERT INTO tnn VALUES (1, "+strings.Join(lvals, ", ")+")")
	pg.Exec(t, "INSERT INTO tnn VALUES (1, "+strings.Join(nvals, ", ")+")")
	l, n := sides(t, ctx, my, pg,
		Table{Name: "ficus.tnn", Key: "id", Columns: names, Rules: rules},
		Table{Name: "public.tnn", Key: "legacy_id", Columns: names})
	res, err := Run(ctx, Config{Legacy: l, New: n})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Differences) != 0 || res.Stats.Fetched != 0 {
		t.Errorf("NOT NULL columns of equal values: %d differences, %d rows fetched; want none (checksums differ)",
			len(res.Differences), res.Stats.Fetched)
	}
}

// TestReconcile starts one MariaDB and one PostgreSQL for both cases.
func TestReconcile(t *testing.T) {
	my, pg := servers(t)
	t.Run("types", func(t *testing.T) { testTypes(t, my, pg) })
	t.Run("digest", func(t *testing.T) { testDigest(t, my, pg) })
	t.Run("progress phases", func(t *testing.T) { testProgressPhases(t, my, pg) })
	t.Run("million rows", func(t *testing.T) { testMillionRows(t, my, pg) })
	t.Run("repair literals", func(t *testing.T) { testRepairLiterals(t, my, pg) })
	t.Run("resume every state", func(t *testing.T) { testResumeEveryState(t, my, pg) })
	t.Run("tuple keys", func(t *testing.T) { testTupleKeys(t, my, pg) })
	t.Run("tuple resume", func(t *testing.T) { testTupleResume(t, my, pg) })
	t.Run("tuple sized", func(t *testing.T) { testTupleSized(t, my, pg) })
	t.Run("query sides", func(t *testing.T) { testQuerySides(t, my, pg) })
	t.Run("key index", func(t *testing.T) { testKeyIndex(t, my, pg) })
}

// testTypes puts each case in its own column pair and its own row (key =
// case index, other columns NULL) and checks that reconcile reports
// exactly the unequal cases, on exactly their column, with the canonical
// values computed in the database.
func testTypes(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg.Exec(t, "CREATE TYPE order_state AS ENUM ('NEW', 'PAID')")
	var lcols, ncols, names []string
	var rules []canon.Rule
	for i, c := range typeCases {
		lcols = append(lcols, fmt.Sprintf("c%d %s", i, c.legacyType))
		ncols = append(ncols, fmt.Sprintf("c%d %s", i, c.newType))
		names = append(names, fmt.Sprintf("c%d", i))
		rules = append(rules, c.rule)
	}
	my.Exec(t, "CREATE TABLE t (id BIGINT PRIMARY KEY, "+strings.Join(lcols, ", ")+")")
	pg.Exec(t, "CREATE TABLE t (legacy_id bigint PRIMARY KEY, "+strings.Join(ncols, ", ")+")")
	for i, c := range typeCases {
		my.Exec(t, fmt.Sprintf("INSERT INTO t (id, c%d) VALUES (%d, %s)", i, i, c.legacyVal))
		pg.Exec(t, fmt.Sprintf("INSERT INTO t (legacy_id, c%d) VALUES (%d, %s)", i, i, c.newVal))
	}
	l, n := sides(t, ctx, my, pg,
		Table{Name: "ficus.t", Key: "id", Columns: names, Rules: rules},
		Table{Name: "public.t", Key: "legacy_id", Columns: names})
	// LeafRows 1 forces bisection down to single keys.
	res, err := Run(ctx, Config{Legacy: l, New: n, Segments: 4, LeafRows: 1})
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]Difference{}
	for _, d := range res.Differences {
		got[d.Key] = d
	}
	for i, c := range typeCases {
		t.Run(c.name, func(t *testing.T) {
			d, differs := got[int64(i)]
			if differs == c.equal {
				t.Fatalf("equal = %v, want %v (difference: %+v)", !differs, c.equal, d)
			}
			if differs {
				if d.Kind != Differs || len(d.Columns) != 1 || d.Columns[0].Legacy != names[i] {
					t.Fatalf("difference %+v, want only column %s", d, names[i])
				}
				if s := d.Columns[0].LegacyVal.String(); s != c.legacyCanon {
					t.Errorf("legacy value %q, want %q", s, c.legacyCanon)
				}
			}
		})
	}
	// Per key (buckets of one key), both checksum methods must agree
	// exactly where the values are equal: a hash that differs for equal
	// values would cost reads, one that matches for unequal values would
	// hide a difference.
	for _, m := range []Method{Digest, RowSum} {
		ls, err := l.Checksums(ctx, 0, int64(len(typeCases)-1), 1, m)
		if err != nil {
			t.Fatal(err)
		}
		ns, err := n.Checksums(ctx, 0, int64(len(typeCases)-1), 1, m)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range typeCases {
			if same := ls[int64(i)] == ns[int64(i)]; same != c.equal && c.kindOK() {
				t.Errorf("method %d, %s: checksums equal = %v, want %v", m, c.name, same, c.equal)
			}
		}
	}
	testNotNull(t, ctx, my, pg)
	// The rows as fetched carry the canonical values the hashes were built
	// from: equal cases must read equal, and legacy values as expected.
	lrows, err := l.Rows(ctx, 0, int64(len(typeCases)))
	if err != nil {
		t.Fatal(err)
	}
	nrows, err := n.Rows(ctx, 0, int64(len(typeCases)))
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range typeCases {
		lv, nv := lrows[i].Values[i], nrows[i].Values[i]
		if lv.String() != c.legacyCanon {
			t.Errorf("%s: fetched legacy %q, want %q", c.name, lv, c.legacyCanon)
		}
		if c.equal && lv != nv {
			t.Errorf("%s: fetched legacy %q, new %q", c.name, lv, nv)
		}
	}
}

// testMillionRows plants 50 differences of every kind among 1,000,000 rows
// per side and expects exactly those 50 back.
func testMillionRows(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres) {
	if testing.Short() {
		t.Skip("loads 1,000,000 rows per side")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const rows = 1_000_000
	began := time.Now()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		loadNewOrders(t, pg, rows)
	}()
	loadLegacyOrders(t, my, rows)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("loaded %d rows per side in %s", rows, time.Since(began).Round(time.Millisecond))

	want := plant(t, my, pg)
	l, n := sides(t, ctx, my, pg, legacyOrders, newOrders)
	var mu sync.Mutex
	var progress []Progress
	res, err := Run(ctx, Config{Legacy: l, New: n, ProgressEvery: 20 * time.Millisecond, Progress: func(p Progress) {
		mu.Lock()
		progress = append(progress, p)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	checkProgress(t, progress, rows)
	st := res.Stats
	t.Logf("reconcile: wall %s, db time legacy %s new %s, %d checksums, %d rows fetched",
		st.Wall.Round(time.Millisecond), st.LegacyDBTime.Round(time.Millisecond), st.NewDBTime.Round(time.Millisecond), st.Checksums, st.Fetched)
	if st.LegacyRows != rows-10 || st.NewRows != rows-10 {
		t.Errorf("rows %d / %d, want %d each", st.LegacyRows, st.NewRows, rows-10)
	}
	var got []string
	for _, d := range res.Differences {
		got = append(got, describe(d))
	}
	if !slices.Equal(got, want) {
		t.Errorf("differences:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if st.Fetched > 200_000 {
		t.Errorf("fetched %d rows for 50 differences: bisection is not narrowing", st.Fetched)
	}
}

// checkProgress: reports in the estimating phase come first and report
// no pass; after them, progress never goes back within a pass, never
// counts more rows than two passes' worth, and the first pass covers the
// table.
func checkProgress(t *testing.T, ps []Progress, rows int64) {
	t.Helper()
	if len(ps) == 0 {
		t.Fatal("no progress reported during a run of more than 20ms")
	}
	comparing := false
	for i, p := range ps {
		switch p.Phase {
		case PhaseEstimating:
			if comparing || p != (Progress{Phase: PhaseEstimating, Elapsed: p.Elapsed}) {
				t.Errorf("progress %d: %+v, want the estimating phase before any pass, with no counts", i, p)
			}
			continue
		case PhaseComparing:
			comparing = true
		default:
			t.Errorf("progress %d: phase %q", i, p.Phase)
		}
		if p.Pass < 1 || p.RangesDone > p.RangesTotal || p.Rows > 2*rows || p.EstimatedRows <= 0 {
			t.Errorf("progress %d: %+v", i, p)
		}
		if i > 0 && p.Pass == ps[i-1].Pass && (p.RangesDone < ps[i-1].RangesDone || p.Rows < ps[i-1].Rows) {
			t.Errorf("progress went back: %+v after %+v", p, ps[i-1])
		}
	}
	if last := ps[len(ps)-1]; last.Pass > 1 && last.Rows < rows-10 {
		t.Errorf("past the first pass with %d rows checksummed of %d: %+v", last.Rows, rows, last)
	}
}

var (
	legacyOrders = Table{Name: "ficus.orders", Key: "id",
		Columns: []string{"status", "amount", "customer_id", "updated_at"},
		Rules:   []canon.Rule{{Map: map[string]string{"NEW": "created", "PAID": "paid"}}, {Scale: "100"}, {}, {}}}
	newOrders = Table{Name: "public.orders", Key: "legacy_id",
		Columns: []string{"state", "total", "customer_ref", "updated_at"}}
)

func loadLegacyOrders(t *testing.T, my *testenv.MariaDB, n int) {
	t.Helper()
	db := my.DB(t)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close()
	for _, q := range []string{
		"SET SESSION sql_log_bin = 0", // nothing captures this table
		"SET SESSION time_zone = '+00:00'",
		`CREATE TABLE orders (id BIGINT PRIMARY KEY, status ENUM('NEW','PAID','SHIPPED') NOT NULL,
			amount DECIMAL(12,2) NOT NULL, customer_id INT, updated_at DATETIME(6) NOT NULL)`,
		fmt.Sprintf(`INSERT INTO orders SELECT seq, ELT(seq %% 3 + 1, 'NEW', 'PAID', 'SHIPPED'),
			(seq %% 100000) / 100, seq %% 5000, TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq SECOND
			FROM seq_1_to_%d`, n),
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Errorf("mariadb: %v", err)
			return
		}
	}
}

func loadNewOrders(t *testing.T, pg *testenv.Postgres, n int) {
	t.Helper()
	pg.Exec(t, `CREATE TABLE orders (legacy_id bigint PRIMARY KEY, state text NOT NULL,
		total bigint NOT NULL, customer_ref int, updated_at timestamptz NOT NULL)`)
	pg.Exec(t, fmt.Sprintf(`INSERT INTO orders SELECT s, (ARRAY['created','paid','SHIPPED'])[s %% 3 + 1],
		s %% 100000, s %% 5000, timestamptz '2024-01-01 00:00:00+00' + s * interval '1 second'
		FROM generate_series(1, %d) s`, n))
	pg.Exec(t, "ANALYZE orders")
}

// plant makes 50 differences, ten of each kind, spread over the key space,
// and returns them as describe prints them, in key order.
func plant(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres) []string {
	t.Helper()
	var want []string
	for i := range 50 {
		key := 7 + i*19_997
		switch i % 5 {
		case 0:
			pg.Exec(t, "DELETE FROM orders WHERE legacy_id = $1", key)
			want = append(want, fmt.Sprintf("%d missing_in_new", key))
		case 1:
			my.Exec(t, "DELETE FROM orders WHERE id = ?", key)
			want = append(want, fmt.Sprintf("%d missing_in_legacy", key))
		case 2:
			pg.Exec(t, "UPDATE orders SET total = total + 1 WHERE legacy_id = $1", key)
			cents := key % 100000
			want = append(want, fmt.Sprintf("%d differs amount/total=%d/%d", key, cents, cents+1))
		case 3:
			pg.Exec(t, "UPDATE orders SET state = 'lost' WHERE legacy_id = $1", key)
			want = append(want, fmt.Sprintf("%d differs status/state=%s/lost", key, []string{"created", "paid", "SHIPPED"}[key%3]))
		case 4:
			pg.Exec(t, "UPDATE orders SET updated_at = updated_at + interval '1 microsecond' WHERE legacy_id = $1", key)
			ts := time.Date(2024, 1, 1, 0, 0, key, 0, time.UTC)
			want = append(want, fmt.Sprintf("%d differs updated_at/updated_at=%s/%s", key,
				ts.Format(canon.TimestampLayout), ts.Add(time.Microsecond).Format(canon.TimestampLayout)))
		}
	}
	return want
}

func describe(d Difference) string {
	s := fmt.Sprintf("%d %s", d.Key, d.Kind)
	for _, c := range d.Columns {
		s += fmt.Sprintf(" %s/%s=%s/%s", c.Legacy, c.New, c.LegacyVal, c.NewVal)
	}
	return s
}
