package reconcile

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// tupleRows is how many rows each tuple-key table holds (the issue's
// 200,000 scaled down for make test).
const tupleRows = 20_000

// tupleCase is a table whose key is not one integer column: both sides'
// DDL (columns key..., v), the key expressions of row number s, and the
// canonical key of row s.
type tupleCase struct {
	name      string
	legacyDDL string
	newDDL    string
	legacyKey string // SQL over seq (MariaDB's seq_1_to_n)
	newKey    string // SQL over s (generate_series)
	keys      []string
	kinds     []canon.Kind
	keyOf     func(s int) canon.Key
	// pastEnd, when set, is a legacy row's key values (SQL) above every
	// key, and its canonical key (see testTupleSizedCase).
	pastEnd    string
	pastEndKey canon.Key
	// rowSums: buckets are checksummed by row sums (Stats.Method), the
	// key being read in key order from no index, or from one over a heap
	// in another order (PostgreSQL's uuid rows lie in insertion order).
	rowSums bool
}

func md5UUID(s int) string {
	h := md5.Sum([]byte(strconv.Itoa(s)))
	x := hex.EncodeToString(h[:])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

const myUUID = "CONCAT_WS('-', SUBSTR(MD5(seq), 1, 8), SUBSTR(MD5(seq), 9, 4), SUBSTR(MD5(seq), 13, 4), SUBSTR(MD5(seq), 17, 4), SUBSTR(MD5(seq), 21, 12))"

var textPrefixes = []string{"a", "A", "é", "É", "e", "E"}

var tupleCases = []tupleCase{
	{
		name:      "composite bigint smallint",
		legacyDDL: "order_id BIGINT NOT NULL, line_no SMALLINT NOT NULL, v INT, PRIMARY KEY (order_id, line_no)",
		newDDL:    "order_id bigint NOT NULL, line_no smallint NOT NULL, v int, PRIMARY KEY (order_id, line_no)",
		legacyKey: "seq DIV 4 + 1000, CAST(seq % 7 AS SIGNED) - 3",
		newKey:    "s / 4 + 1000, s % 7 - 3",
		keys:      []string{"order_id", "line_no"},
		kinds:     []canon.Kind{canon.KindInteger, canon.KindInteger},
		keyOf:     func(s int) canon.Key { return canon.Key{strconv.Itoa(s/4 + 1000), strconv.Itoa(s%7 - 3)} },
		pastEnd:   "1000000, 0", pastEndKey: canon.Key{"1000000", "0"},
	},
	{
		// Uppercase on the legacy side for odd rows: the canonical UUID is
		// lowercase whatever CHAR(36) holds.
		name:      "uuid char(36) vs uuid",
		legacyDDL: "id CHAR(36) NOT NULL PRIMARY KEY, v INT",
		newDDL:    "id uuid NOT NULL PRIMARY KEY, v int",
		legacyKey: "IF(seq % 2 = 1, UPPER(" + myUUID + "), " + myUUID + ")",
		newKey:    "md5(s::text)::uuid",
		keys:      []string{"id"},
		kinds:     []canon.Kind{canon.KindUUID},
		keyOf:     func(s int) canon.Key { return canon.Key{md5UUID(s)} },
		rowSums:   true,
	},
	{
		name:      "uuid binary(16) vs uuid",
		legacyDDL: "id BINARY(16) NOT NULL PRIMARY KEY, v INT",
		newDDL:    "id uuid NOT NULL PRIMARY KEY, v int",
		legacyKey: "UNHEX(MD5(seq))",
		newKey:    "md5(s::text)::uuid",
		keys:      []string{"id"},
		kinds:     []canon.Kind{canon.KindUUID},
		keyOf:     func(s int) canon.Key { return canon.Key{md5UUID(s)} },
		pastEnd:   "UNHEX(REPEAT('f', 32))", pastEndKey: canon.Key{"ffffffff-ffff-ffff-ffff-ffffffffffff"},
		rowSums: true,
	},
	{
		// Decimal, date and timestamp key columns, with fractions: the key
		// texts are canon's own, from the values Go computes.
		name:      "composite decimal date datetime(3)",
		legacyDDL: "amount DECIMAL(12,2) NOT NULL, day DATE NOT NULL, at DATETIME(3) NOT NULL, v INT, PRIMARY KEY (amount, day, at)",
		newDDL:    "amount numeric(12,2) NOT NULL, day date NOT NULL, at timestamp(3) NOT NULL, v int, PRIMARY KEY (amount, day, at)",
		legacyKey: "(seq DIV 5) * 0.25, DATE_ADD('2020-01-01', INTERVAL seq % 5 DAY), TIMESTAMPADD(MICROSECOND, seq * 1500000, '2024-01-01 00:00:00')",
		newKey:    "(s / 5) * 0.25, date '2020-01-01' + s % 5, timestamp '2024-01-01' + s * interval '1.5 seconds'",
		keys:      []string{"amount", "day", "at"},
		kinds:     []canon.Kind{canon.KindDecimal, canon.KindDate, canon.KindTimestamp},
		keyOf: func(s int) canon.Key {
			amount, _ := canon.Canonical(canon.KindDecimal, fmt.Sprintf("%d.%02d", s/5/4, s/5%4*25))
			day, _ := canon.Canonical(canon.KindDate, time.Date(2020, 1, 1+s%5, 0, 0, 0, 0, time.UTC))
			at, _ := canon.Canonical(canon.KindTimestamp, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(s)*1500*time.Millisecond))
			return canon.Key{amount.Text, day.Text, at.Text}
		},
	},
	{
		// utf8mb4_general_ci holds 'a1' and 'A1', 'é1' and 'e1' as equal:
		// no unique index can hold them, and its order is not the bytes'.
		name:      "varchar accents and case under general_ci",
		legacyDDL: "k VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL, v INT, KEY (k)",
		newDDL:    "k text NOT NULL PRIMARY KEY, v int",
		legacyKey: "CONCAT(ELT(seq % 6 + 1, 'a', 'A', 'é', 'É', 'e', 'E'), seq DIV 6)",
		newKey:    "(ARRAY['a', 'A', 'é', 'É', 'e', 'E'])[s % 6 + 1] || (s / 6)::text",
		keys:      []string{"k"},
		kinds:     []canon.Kind{canon.KindText},
		keyOf:     func(s int) canon.Key { return canon.Key{textPrefixes[s%6] + strconv.Itoa(s/6)} },
		rowSums:   true,
	},
}

// testTupleKeys runs every tuple case in parallel on the shared servers.
func testTupleKeys(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres) {
	eachTupleCase(t, my, pg, "tk", testTupleCase)
}

// eachTupleCase runs test for every tuple case in parallel, each on a
// table of its own (prefix and the case's index).
func eachTupleCase(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres, prefix string,
	test func(*testing.T, *testenv.MariaDB, *testenv.Postgres, tupleCase, string)) {
	for i, c := range tupleCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			test(t, my, pg, c, fmt.Sprintf("%s%d", prefix, i))
		})
	}
}

func testTupleCase(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres, c tupleCase, table string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	want := tupleTable(t, my, pg, c, table)
	lt := Table{Name: "ficus." + table, KeyColumns: c.keys, Columns: []string{"v"}}
	nt := Table{Name: "public." + table, KeyColumns: c.keys, Columns: []string{"v"}}
	l, n := sides(t, ctx, my, pg, lt, nt)
	res, err := Run(ctx, Config{Legacy: l, New: n, Segments: 8, LeafRows: 300, BucketRows: 5000, Parallel: 4})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.KeyKinds, c.kinds) {
		t.Errorf("key kinds %v, want %v", res.KeyKinds, c.kinds)
	}
	if got, want := tupleBriefs(res.Differences), tupleBriefs(want); !slices.Equal(got, want) {
		t.Errorf("differences:\n got %q\nwant %q", got, want)
	}
	if res.Stats.LegacyRows != tupleRows-7 || res.Stats.NewRows != tupleRows-7 {
		t.Errorf("rows legacy %d new %d, want %d each", res.Stats.LegacyRows, res.Stats.NewRows, tupleRows-7)
	}
	if res.Stats.Fetched >= 2*tupleRows/2 {
		t.Errorf("fetched %d rows of %d: the ranges did not narrow", res.Stats.Fetched, 2*tupleRows)
	}
	t.Logf("%s: %s, %d checksums, %d rows fetched, wall %s", c.name, res.Stats.Method, res.Stats.Checksums, res.Stats.Fetched, res.Stats.Wall)
	if want := map[bool]string{false: MethodDigest, true: MethodRowSums}[c.rowSums]; res.Stats.Method != want {
		t.Errorf("checksummed by %s, want %s", res.Stats.Method, want)
	}
	if c.rowSums {
		// The first level cut at a sample's quantiles: the same
		// differences, whatever the pieces' sizes.
		sampled, err := Run(ctx, Config{Legacy: l, New: n, Segments: 8, LeafRows: 300, BucketRows: 5000, Parallel: 4, SampleRows: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := tupleBriefs(sampled.Differences), tupleBriefs(want); !slices.Equal(got, want) {
			t.Errorf("first level from a sample: differences:\n got %q\nwant %q", got, want)
		}
		if sampled.Stats.SampledKeys == 0 || sampled.Stats.LegacyRows != tupleRows-7 {
			t.Errorf("first level from a sample: %d keys sampled, %d legacy rows", sampled.Stats.SampledKeys, sampled.Stats.LegacyRows)
		}
	}

	// The differences kept in a table, keyed by the tuple's JSON text.
	if err := res.Materialize(ctx, MaterializeTarget{Engine: canon.Postgres, DSN: pg.DSN(), Table: table + "_found"}, "cmp", lt.Columns, nt.Columns); err != nil {
		t.Fatal(err)
	}
	var kept []string
	rows, err := pg.Conn(t).Query(ctx, "SELECT key || ' ' || kind FROM "+table+"_found ORDER BY key")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		kept = append(kept, s)
	}
	rows.Close()
	if len(kept) != 20 || !strings.HasPrefix(kept[0], "[") {
		t.Errorf("materialized %d rows: %q", len(kept), kept)
	}
	// The repair script, WHERE on every key column, makes new equal legacy.
	var script strings.Builder
	if err := res.RepairSQL(&script, "cmp", canon.Postgres, nt); err != nil {
		t.Fatal(err)
	}
	pg.Exec(t, script.String())
	again, err := Run(ctx, Config{Legacy: l, New: n, Segments: 8, LeafRows: 300, BucketRows: 5000, Parallel: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Differences) != 0 {
		t.Errorf("after the repair script: %q\nscript:\n%s", tupleBriefs(again.Differences), script.String())
	}
}

// tupleTable makes table on both servers for c, tupleRows rows with 20
// differences planted, and returns those in key order.
func tupleTable(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres, c tupleCase, table string) []Difference {
	my.Exec(t, "CREATE TABLE "+table+" ("+c.legacyDDL+")")
	pg.Exec(t, "CREATE TABLE "+table+" ("+c.newDDL+")")
	keyCols := ""
	for _, k := range c.keys {
		keyCols += k + ", "
	}
	legacySelect := "SELECT " + c.legacyKey + ", seq FROM seq_1_to_" + strconv.Itoa(tupleRows)
	my.Exec(t, "INSERT INTO "+table+" ("+keyCols+"v) "+legacySelect)
	pg.Exec(t, fmt.Sprintf("INSERT INTO %s (%sv) SELECT %s, s FROM generate_series(1, %d) s", table, keyCols, c.newKey, tupleRows))
	pg.Exec(t, "ANALYZE "+table)

	// 20 differences: keys on one side only, both ways, and values.
	var want []Difference
	for i := range 20 {
		s := 17 + i*997
		k := c.keyOf(s)
		switch i % 3 {
		case 0:
			pg.Exec(t, "DELETE FROM "+table+" WHERE v = $1", s)
			want = append(want, Difference{Tuple: k, Kind: MissingInNew})
		case 1:
			my.Exec(t, "DELETE FROM "+table+" WHERE v = ?", s)
			want = append(want, Difference{Tuple: k, Kind: MissingInLegacy})
		case 2:
			pg.Exec(t, "UPDATE "+table+" SET v = v + 1000000 WHERE v = $1", s)
			want = append(want, Difference{Tuple: k, Kind: Differs, Columns: []ColumnDiff{{Legacy: "v", New: "v",
				LegacyVal: canon.Value{Text: strconv.Itoa(s)}, NewVal: canon.Value{Text: strconv.Itoa(s + 1000000)}}}})
		}
	}
	slices.SortFunc(want, func(a, b Difference) int { return canon.CompareKeys(c.kinds, a.Tuple, b.Tuple) })
	return want
}

func describeTuple(d Difference) string {
	s := d.Tuple.JSON() + " " + d.Kind
	for _, c := range d.Columns {
		s += fmt.Sprintf(" %s/%s=%s/%s", c.Legacy, c.New, c.LegacyVal, c.NewVal)
	}
	return s
}

// testTupleResume keeps every state of a tuple-key run (several passes)
// and continues from each, through its JSON as progresskv keeps it: the
// same differences and rows every time. Integer-range progress is refused
// for a tuple key, and tuple progress for an integer key.
func testTupleResume(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	my.Exec(t, "CREATE TABLE tresume (a BIGINT NOT NULL, b VARCHAR(8) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, v INT, PRIMARY KEY (a, b))")
	my.Exec(t, "INSERT INTO tresume SELECT seq DIV 3, ELT(seq % 3 + 1, 'x', 'X', 'é'), seq FROM seq_1_to_6000")
	pg.Exec(t, "CREATE TABLE tresume (a bigint NOT NULL, b text NOT NULL, v int, PRIMARY KEY (a, b))")
	pg.Exec(t, "INSERT INTO tresume SELECT s / 3, (ARRAY['x', 'X', 'é'])[s % 3 + 1], s FROM generate_series(1, 6000) s")
	pg.Exec(t, "UPDATE tresume SET v = -v WHERE v IN (3, 500, 501, 1999, 2500, 3001, 4444, 5999)")
	pg.Exec(t, "DELETE FROM tresume WHERE v IN (17, 3500)")
	pg.Exec(t, "INSERT INTO tresume VALUES (6001, 'x', 1), (7000, 'y', 2)")
	pg.Exec(t, "ANALYZE tresume")
	l, n := sides(t, ctx, my, pg,
		Table{Name: "ficus.tresume", KeyColumns: []string{"a", "b"}, Columns: []string{"v"}},
		Table{Name: "public.tresume", KeyColumns: []string{"a", "b"}, Columns: []string{"v"}})
	cfg := Config{Legacy: l, New: n, Segments: 4, LeafRows: 8, Parallel: 3, BucketRows: 500}
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
		t.Fatalf("uninterrupted run: %d differences, want 12: %q", len(full.Differences), tupleBriefs(full.Differences))
	}
	var passes []int
	for _, k := range kept {
		passes = append(passes, k.State.Pass)
		if k.State.Version != SavedTupleVersion || len(k.State.Todo) > 0 {
			t.Fatalf("kept state of layout %d with %d integer ranges", k.State.Version, len(k.State.Todo))
		}
	}
	if slices.Max(passes) < 3 || len(kept) < 10 {
		t.Fatalf("%d states kept in passes %v: not enough passes to test", len(kept), slices.Compact(passes))
	}
	cfg.Checkpoint = nil
	var found []Difference
	for i, k := range kept {
		found = append(found, k.Found...)
		b, err := json.Marshal(k.State)
		if err != nil {
			t.Fatal(err)
		}
		var s Saved
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		s.Differences = slices.Clone(found)
		cfg.Resume = &s
		res, err := Run(ctx, cfg)
		if err != nil {
			t.Fatalf("resumed from state %d: %v", i, err)
		}
		if got, want := tupleBriefs(res.Differences), tupleBriefs(full.Differences); !slices.Equal(got, want) {
			t.Fatalf("resumed from state %d (pass %d): differences %q, want %q", i, s.Pass, got, want)
		}
		if res.Stats.LegacyRows != full.Stats.LegacyRows || res.Stats.NewRows != full.Stats.NewRows {
			t.Errorf("resumed from state %d: rows %d/%d, want %d/%d", i, res.Stats.LegacyRows, res.Stats.NewRows,
				full.Stats.LegacyRows, full.Stats.NewRows)
		}
	}
	// The other layout, with the right fingerprint, is refused.
	cfg.Resume = &Saved{Version: SavedVersion, Fingerprint: kept[0].State.Fingerprint, Pass: 1, Todo: []SavedRange{{1, 10, 1}}}
	if _, err := Run(ctx, cfg); err == nil || !strings.Contains(err.Error(), "layout 1") {
		t.Errorf("integer-range progress for a tuple key: %v", err)
	}
}

func tupleBriefs(ds []Difference) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = describeTuple(d)
	}
	return out
}
