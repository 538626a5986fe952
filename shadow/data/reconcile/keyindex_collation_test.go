package reconcile

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
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
		prepareTupleSide(t, ctx, p, []canon.Kind{canon.KindText})
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
	prepareTupleSide(t, ctx, m, []canon.Kind{canon.KindText})
	a, err := m.tupleIndex(ctx, true)
	if err != nil || a == nil || m.tupleIndexed() || a.ddl != "CREATE INDEX ficus_key ON `ficus`.`knoidx` (`k`)" {
		t.Fatalf("without an index: advice %+v, %v, indexed %v", a, err, m.tupleIndexed())
	}
	my.Exec(t, a.ddl)
	if a, err := m.tupleIndex(ctx, true); err != nil || a != nil || !m.tupleIndexed() {
		t.Errorf("with the index: advice %+v, %v, indexed %v", a, err, m.tupleIndexed())
	}
}
