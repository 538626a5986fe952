package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// tupleKeyRows is each table's rows here (the package tests of reconcile
// run 20,000 rows per key type; the 200,000 are for ficusbench).
const tupleKeyRows = 2000

// tupleTable is one comparison whose key is not one integer column: the
// DDL of both sides (key columns, then v), the key's SQL over row number
// seq (MariaDB) or s (PostgreSQL), and its canonical text.
type tupleTable struct {
	name, keys        string // keys: the YAML list's content
	legacyDDL, newDDL string
	legacyKey, newKey string
	kinds             []canon.Kind
	keyOf             func(s int) canon.Key
}

func e2eUUID(s int) string {
	h := md5.Sum([]byte(strconv.Itoa(s)))
	x := hex.EncodeToString(h[:])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

var tupleTables = []tupleTable{
	{name: "order_lines", keys: "order_id, line_no",
		legacyDDL: "order_id BIGINT NOT NULL, line_no SMALLINT NOT NULL, v INT, PRIMARY KEY (order_id, line_no)",
		newDDL:    "order_id bigint NOT NULL, line_no smallint NOT NULL, v int, PRIMARY KEY (order_id, line_no)",
		legacyKey: "seq DIV 4 + 1000, CAST(seq % 7 AS SIGNED) - 3", newKey: "s / 4 + 1000, s % 7 - 3",
		kinds: []canon.Kind{canon.KindInteger, canon.KindInteger},
		keyOf: func(s int) canon.Key { return canon.Key{strconv.Itoa(s/4 + 1000), strconv.Itoa(s%7 - 3)} }},
	{name: "devices", keys: "id",
		legacyDDL: "id BINARY(16) NOT NULL PRIMARY KEY, v INT", newDDL: "id uuid NOT NULL PRIMARY KEY, v int",
		legacyKey: "UNHEX(MD5(seq))", newKey: "md5(s::text)::uuid",
		kinds: []canon.Kind{canon.KindUUID}, keyOf: func(s int) canon.Key { return canon.Key{e2eUUID(s)} }},
	{name: "tokens", keys: "id",
		legacyDDL: "id CHAR(36) NOT NULL PRIMARY KEY, v INT", newDDL: "id uuid NOT NULL PRIMARY KEY, v int",
		legacyKey: "UPPER(CONCAT_WS('-', SUBSTR(MD5(seq), 1, 8), SUBSTR(MD5(seq), 9, 4), SUBSTR(MD5(seq), 13, 4), SUBSTR(MD5(seq), 17, 4), SUBSTR(MD5(seq), 21, 12)))",
		newKey:    "md5(s::text)::uuid",
		kinds:     []canon.Kind{canon.KindUUID}, keyOf: func(s int) canon.Key { return canon.Key{e2eUUID(s)} }},
	{name: "names", keys: "k",
		// Under utf8mb4_general_ci 'a1' = 'A1' = 'é1': no unique key could
		// hold them; ficus keeps them apart.
		legacyDDL: "k VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL, v INT, KEY (k)",
		newDDL:    "k text NOT NULL PRIMARY KEY, v int",
		legacyKey: "CONCAT(ELT(seq % 6 + 1, 'a', 'A', 'é', 'É', 'e', 'E'), seq DIV 6)",
		newKey:    "(ARRAY['a', 'A', 'é', 'É', 'e', 'E'])[s % 6 + 1] || (s / 6)::text",
		kinds:     []canon.Kind{canon.KindText},
		keyOf: func(s int) canon.Key {
			return canon.Key{[]string{"a", "A", "é", "É", "e", "E"}[s%6] + strconv.Itoa(s/6)}
		}},
}

// testDataTupleKeys runs `ficus run` on four comparisons whose keys are
// not one integer column (composite, UUID as BINARY(16) and as upper-case
// CHAR(36), varchar under a case- and accent-insensitive collation), with
// 20 planted differences each (keys on one side only, both ways, and
// values): continuous mode reports exactly them, keyed by the tuple, and
// `ficus reconcile` finds exactly the same.
func testDataTupleKeys(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres) {
	var tables, ptables, entries strings.Builder
	for i, tt := range tupleTables {
		my.Exec(t, "CREATE TABLE "+tt.name+" ("+tt.legacyDDL+")")
		pg.Exec(t, "CREATE TABLE "+tt.name+" ("+tt.newDDL+")")
		if i > 0 {
			tables.WriteString(", ")
			ptables.WriteString(", ")
		}
		tables.WriteString("ficus." + tt.name)
		ptables.WriteString("public." + tt.name)
		fmt.Fprintf(&entries, `
  - name: %s
    legacy: {source: shop, table: ficus.%s, key: [%s]}
    new: {source: svc, table: public.%s, key: [%s]}
    columns: {v: v}
    max_lag: 2s`, tt.name, tt.name, tt.keys, tt.name, tt.keys)
	}
	natsAddr, adminAddr := freeAddr(t), freeAddr(t)
	cfg := writeConfig(t, fmt.Sprintf(`
nats: {embedded: {listen: %q, store_dir: %q}}
admin: {listen: %q}
capture:
  sources:
    - {name: shop, type: mysql, dsn: %q, server_id: 4201, tables: [%s]}
    - {name: svc, type: postgres, dsn: %q, tables: [%s]}
compare_data:%s
`, natsAddr, t.TempDir(), adminAddr, my.DSN(), tables.String(), pg.DSN(), ptables.String(), entries.String()))
	logs := &testenv.LogBuffer{}
	proc := startFicus(t, buildFicus(t), logs, "run", "-c", cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ficus logs:\n%s", tail(logs.String(), 8000))
		}
	})
	waitAdminReady(t, adminAddr, "", proc.exited)

	// Rows 1..n on both sides but for 20 planted differences: 7 rows only
	// in legacy, 7 only in new, 6 with another v in new.
	want := map[string][]string{}
	for _, tt := range tupleTables {
		var legacyOnly, newOnly, differs []string
		var w []canon.Key
		kinds := map[string]string{}
		for i := range 20 {
			s := 13 + i*97
			k := tt.keyOf(s)
			w = append(w, k)
			switch i % 3 {
			case 0:
				legacyOnly = append(legacyOnly, strconv.Itoa(s))
				kinds[k.JSON()] = "missing_in_new"
			case 1:
				newOnly = append(newOnly, strconv.Itoa(s))
				kinds[k.JSON()] = "missing_in_legacy"
			case 2:
				differs = append(differs, strconv.Itoa(s))
				kinds[k.JSON()] = fmt.Sprintf("differs v=%d/%d", s, s+1_000_000)
			}
		}
		slices.SortFunc(w, func(a, b canon.Key) int { return canon.CompareKeys(tt.kinds, a, b) })
		for _, k := range w {
			want[tt.name] = append(want[tt.name], k.JSON()+" "+kinds[k.JSON()])
		}
		my.Exec(t, fmt.Sprintf("INSERT INTO %s SELECT %s, seq FROM seq_1_to_%d WHERE seq NOT IN (%s)",
			tt.name, tt.legacyKey, tupleKeyRows, strings.Join(newOnly, ", ")))
		pg.Exec(t, fmt.Sprintf("INSERT INTO %s SELECT %s, CASE WHEN s IN (%s) THEN s + 1000000 ELSE s END FROM generate_series(1, %d) s WHERE s NOT IN (%s)",
			tt.name, tt.newKey, strings.Join(differs, ", "), tupleKeyRows, strings.Join(legacyOnly, ", ")))
	}

	nc, err := nats.Connect(natsURLOf(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	api := adminAPI(adminAddr, "")
	for _, tt := range tupleTables {
		deadline := time.Now().Add(60 * time.Second)
		for {
			f, err := api.Data(t.Context(), tt.name)
			if err == nil && f.KeysSeen == tupleKeyRows && f.Pending == 0 && f.MissingInNew+f.MissingInLegacy+f.Differing == 20 {
				if f.Matched != tupleKeyRows-20 || f.MissingInNew != 7 || f.MissingInLegacy != 7 || f.Differing != 6 {
					t.Errorf("%s: figures %+v", tt.name, f)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: figures never settled: %+v, %v", tt.name, f, err)
			}
			time.Sleep(250 * time.Millisecond)
		}
		got := tupleFindings(t, nc, tt, 20)
		if !slices.Equal(got, want[tt.name]) {
			t.Errorf("%s: continuous findings:\n got %q\nwant %q", tt.name, got, want[tt.name])
		}

		var out, errOut bytes.Buffer
		if code := runFicus(context.Background(), t, &out, &errOut, "reconcile", "-c", cfg, tt.name, "--format", "json", "--leaf-rows", "50"); code != 1 {
			t.Fatalf("%s: reconcile exit %d, want 1; stderr: %s", tt.name, code, errOut.String())
		}
		var res struct {
			Differences []struct {
				Key     []string `json:"key"`
				Kind    string   `json:"kind"`
				Columns []struct {
					L *string `json:"legacy"`
					N *string `json:"new"`
				} `json:"columns"`
			} `json:"differences"`
		}
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("%s: %v: %s", tt.name, err, out.String())
		}
		var rec []string
		for _, d := range res.Differences {
			s := canon.Key(d.Key).JSON() + " " + d.Kind
			for _, c := range d.Columns {
				s += fmt.Sprintf(" v=%s/%s", deref(c.L), deref(c.N))
			}
			rec = append(rec, s)
		}
		if !slices.Equal(rec, want[tt.name]) {
			t.Errorf("%s: reconcile:\n got %q\nwant %q", tt.name, rec, want[tt.name])
		}
	}
}

// tupleFindings reads exactly n findings of tt from FICUS_DATA, described
// as "<key JSON> <kind>", in key order.
func tupleFindings(t *testing.T, nc *nats.Conn, tt tupleTable, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := js.OrderedConsumer(ctx, "FICUS_DATA", jetstream.OrderedConsumerConfig{FilterSubjects: []string{"ficus.data." + tt.name}})
	if err != nil {
		t.Fatal(err)
	}
	type finding struct {
		key  canon.Key
		text string
	}
	var got []finding
	for len(got) < n {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("%s: after %d findings: %v", tt.name, len(got), err)
		}
		var f struct {
			Key     []string `json:"key"`
			Kind    string   `json:"kind"`
			Columns []struct {
				L *string `json:"legacy"`
				N *string `json:"new"`
			} `json:"columns"`
		}
		if err := json.Unmarshal(m.Data(), &f); err != nil {
			t.Fatalf("%s: %v: %s", tt.name, err, m.Data())
		}
		s := canon.Key(f.Key).JSON() + " " + f.Kind
		for _, c := range f.Columns {
			s += fmt.Sprintf(" v=%s/%s", deref(c.L), deref(c.N))
		}
		got = append(got, finding{f.Key, s})
	}
	if m, err := cons.Next(jetstream.FetchMaxWait(time.Second)); err == nil {
		t.Errorf("%s: unexpected extra finding: %s", tt.name, m.Data())
	}
	slices.SortFunc(got, func(a, b finding) int { return canon.CompareKeys(tt.kinds, a.key, b.key) })
	out := make([]string, len(got))
	for i, f := range got {
		out[i] = f.text
	}
	return out
}
