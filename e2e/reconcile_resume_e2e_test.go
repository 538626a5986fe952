package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/shadow/data/reconcile"
	"github.com/ficus-migrate/ficus/shadow/data/reconcile/progresskv"
)

// trickyNote is a legacy text value every quoting rule must get right.
const trickyNote = "O'Brien \\ \"x\" ''; DROP TABLE recres; -- é 日本 🎉\n\ttab\\'"

// reconResult is what the tests read of `ficus reconcile --format json`.
type reconResult struct {
	LegacyRows  int64 `json:"legacy_rows"`
	NewRows     int64 `json:"new_rows"`
	Differences []struct {
		Key  int64  `json:"key"`
		Kind string `json:"kind"`
	} `json:"differences"`
	Stats struct {
		Checksums int64 `json:"checksums"`
		Earlier   int64 `json:"checksums_earlier_runs"`
		Resumed   bool  `json:"resumed"`
	} `json:"stats"`
}

func (r reconResult) keys() []string {
	var out []string
	for _, d := range r.Differences {
		out = append(out, fmt.Sprintf("%d %s", d.Key, d.Kind))
	}
	return out
}

// testReconcileResume plants six differences in 20,000 rows (MariaDB
// legacy, PostgreSQL new, rules scale: 100 and a map), then:
//   - an uninterrupted run with --output jsonl and --repair-sql: the JSON
//     lines are exactly the planted differences with both rows;
//   - the same run again, killed with kill -9 once its kept progress says
//     some of the first pass's ranges are done; a plain run then refuses
//     (naming --resume and --fresh); --resume finishes with the same
//     differences and rows, and checksums no finished range again: the
//     range scans it runs (each one digest query per side, Stats.Checksums)
//     plus those the killed run had kept as finished equal the
//     uninterrupted run's, and the bucket is gone once it finished;
//   - the repair SQL applied to new (psql-style, as one script): a second
//     reconcile is clean;
//   - --resume with NATS unreachable fails and says why.
//
// The runs are slowed by --rate-limit 5000 with --parallel 1 (five
// first-pass ranges of 4,000 rows, about 0.8 s apart), so that the kill
// lands mid-way; the larger sizes are for `make bench`.
func testReconcileResume(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := testenv.MustStartNATS(t)
	js, err := jetstream.New(ns.Connect(t))
	if err != nil {
		t.Fatal(err)
	}
	my.Exec(t, `CREATE TABLE recres (id BIGINT PRIMARY KEY, status ENUM('NEW','PAID') NOT NULL,
		amount DECIMAL(12,2) NOT NULL, note TEXT) DEFAULT CHARSET utf8mb4`)
	my.Exec(t, `INSERT INTO recres SELECT seq, IF(seq % 2, 'NEW', 'PAID'), seq * 1.25, CONCAT('n', seq) FROM seq_1_to_20000`)
	my.Exec(t, `UPDATE recres SET note = ? WHERE id IN (100, 15000)`, trickyNote)
	my.Exec(t, `UPDATE recres SET note = NULL WHERE id = 18000`)
	pg.Exec(t, `CREATE TABLE recres (legacy_id bigint PRIMARY KEY, state text, total bigint, note text, extra text DEFAULT 'd')`)
	pg.Exec(t, `INSERT INTO recres SELECT s, CASE WHEN s % 2 = 1 THEN 'created' ELSE 'paid' END, s * 125, 'n' || s
		FROM generate_series(1, 20000) s`)
	pg.Exec(t, `UPDATE recres SET note = $1 WHERE legacy_id = 15000`, "O'Brien")
	pg.Exec(t, `DELETE FROM recres WHERE legacy_id = 100`)                    // missing in new
	pg.Exec(t, `UPDATE recres SET total = 1 WHERE legacy_id = 7000`)          // scaled amount
	pg.Exec(t, `UPDATE recres SET state = 'created' WHERE legacy_id = 12002`) // mapped status
	pg.Exec(t, `UPDATE recres SET note = 'not null' WHERE legacy_id = 18000`) // NULL in legacy
	pg.Exec(t, `INSERT INTO recres VALUES (25000, 'paid', 5, 'stray', 'e')`)  // missing in legacy
	my.Exec(t, `ANALYZE TABLE recres`)                                        // stable row estimates: every run cuts the same ranges
	pg.Exec(t, `ANALYZE recres`)
	want := []string{"100 missing_in_new", "7000 differs", "12002 differs", "15000 differs", "18000 differs", "25000 missing_in_legacy"}

	writeCfg := func(natsURL string) string {
		return writeConfig(t, fmt.Sprintf(`
nats: {url: %q}
capture:
  sources:
    - { name: shop, type: mysql, dsn: "%s", server_id: 4003 }
    - { name: orders_svc, type: postgres, dsn: "%s" }
compare_data:
  - name: res-test
    legacy: { source: shop, table: ficus.recres, key: [id] }
    new: { source: orders_svc, table: public.recres, key: [legacy_id] }
    columns: { status: state, amount: total, note: note }
    rules:
      - { column: amount, scale: 100 }
      - { column: status, map: { NEW: created, PAID: paid } }
`, natsURL, my.DSN(), pg.DSN()))
	}
	cfg := writeCfg(ns.URL)
	dir := t.TempDir()
	jsonl, repair := filepath.Join(dir, "diffs.jsonl"), filepath.Join(dir, "repair.sql")
	slow := []string{"reconcile", "-c", cfg, "res-test", "--format", "json", "--rate-limit", "5000", "--parallel", "1"}
	run := func(args ...string) (reconResult, int, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := runFicus(ctx, t, &out, &errOut, args...)
		var res reconResult
		if code <= 1 {
			if err := json.Unmarshal(out.Bytes(), &res); err != nil {
				t.Fatalf("ficus %s: exit %d, %v: %s\n%s", strings.Join(args, " "), code, err, out.String(), errOut.String())
			}
		}
		return res, code, errOut.String()
	}

	// The uninterrupted run, with both files.
	full, code, stderr := run(append(slices.Clone(slow), "--output", "jsonl", jsonl, "--repair-sql", repair,
		"--materialize", "orders_svc.recon_diffs")...)
	if code != 1 || !slices.Equal(full.keys(), want) || full.LegacyRows != 20000 || full.NewRows != 20000 {
		t.Fatalf("uninterrupted run: exit %d, differences %q, rows %d/%d; want %q\n%s", code, full.keys(), full.LegacyRows, full.NewRows, want, stderr)
	}
	checkJSONL(t, jsonl)
	// --materialize into new's database (by its source's name): the same rows.
	if got := pg.QueryString(t, `SELECT count(*) || ' ' || string_agg(key || ' ' || kind, ',' ORDER BY key) || ' ' ||
		(SELECT legacy->>'note' FROM recon_diffs WHERE key = 100) || ' ' || (SELECT (new IS NULL)::text FROM recon_diffs WHERE key = 100)
		FROM recon_diffs WHERE compare_data = 'res-test'`); got != "6 100 missing_in_new,7000 differs,12002 differs,15000 differs,"+
		"18000 differs,25000 missing_in_legacy "+trickyNote+" true" {
		t.Errorf("materialized rows: %q", got)
	}
	store := progresskv.New(js, "res-test")
	if s, err := store.Load(ctx); err != nil || s != nil {
		t.Fatalf("a finished run left progress %+v (%v)", s, err)
	}

	// The same run, killed with kill -9 mid-way.
	logs := &testenv.LogBuffer{}
	p := startFicus(t, buildFicus(t), logs, slow...)
	var saved *reconcile.Saved
	for {
		s, err := store.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s != nil && s.Pass == 1 && len(s.Todo) <= 3 {
			break // at least two of the five first-pass ranges are kept as finished
		}
		select {
		case err := <-p.exited:
			p.exited <- err // for the cleanup's kill
			t.Fatalf("finished (%v) before it could be killed:\n%s", err, logs.String())
		case <-ctx.Done():
			t.Fatalf("no progress kept:\n%s", logs.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	p.kill()
	if saved, err = store.Load(ctx); err != nil || saved == nil {
		t.Fatalf("progress after the kill: %+v, %v", saved, err)
	}
	t.Logf("killed with %d of the uninterrupted run's %d range checksums kept as finished (pass %d, %d ranges left)",
		saved.Checksums, full.Stats.Checksums, saved.Pass, len(saved.Todo))
	if saved.Checksums == 0 || saved.Checksums >= full.Stats.Checksums {
		t.Fatalf("killed after %d of %d range checksums: not mid-way", saved.Checksums, full.Stats.Checksums)
	}

	// Kept progress and neither flag: refused, naming both.
	if _, code, stderr := run(slow...); code != 2 || !strings.Contains(stderr, "continue it with --resume, or discard it and start over with --fresh") ||
		!strings.Contains(stderr, "bucket ficus_reconcile_res_test") {
		t.Errorf("plain run with kept progress: exit %d, stderr:\n%s", code, stderr)
	}

	// Resumed, materialized into MariaDB by DSN.
	resumed, code, stderr := run(append(slices.Clone(slow), "--resume", "--materialize", my.DSN()+".recon_diffs")...)
	if code != 1 || !slices.Equal(resumed.keys(), want) || resumed.LegacyRows != 20000 || resumed.NewRows != 20000 {
		t.Fatalf("resumed run: exit %d, differences %q, rows %d/%d; want %q\n%s", code, resumed.keys(), resumed.LegacyRows, resumed.NewRows, want, stderr)
	}
	if !resumed.Stats.Resumed || resumed.Stats.Earlier != saved.Checksums ||
		resumed.Stats.Checksums+saved.Checksums != full.Stats.Checksums {
		t.Errorf("resumed run: %d range checksums of its own, %d of earlier runs (kept: %d); the uninterrupted run took %d",
			resumed.Stats.Checksums, resumed.Stats.Earlier, saved.Checksums, full.Stats.Checksums)
	}
	if s, err := store.Load(ctx); err != nil || s != nil {
		t.Errorf("the resumed run, finished, left progress %+v (%v)", s, err)
	}
	if got := my.QueryString(t, "SELECT CONCAT(COUNT(*), ' ', SUM(kind = 'differs'), ' ', "+
		"(SELECT JSON_VALUE(legacy, '$.note') FROM recon_diffs WHERE `key` = 15000)) FROM recon_diffs"); got != "6 4 "+trickyNote {
		t.Errorf("materialized in MariaDB: %q", got)
	}

	// The repair SQL, applied to new, makes the tables equal.
	script, err := os.ReadFile(repair)
	if err != nil {
		t.Fatal(err)
	}
	pg.Exec(t, string(script))
	if res, code, stderr := run("reconcile", "-c", cfg, "res-test", "--format", "json", "--fresh"); code != 0 || len(res.Differences) != 0 {
		t.Errorf("after the repair: exit %d, differences %q\n%s\nrepair script:\n%s", code, res.keys(), stderr, script)
	}
	if got := pg.QueryString(t, `SELECT note || '|' || extra FROM recres WHERE legacy_id = 100`); got != trickyNote+"|d" {
		t.Errorf("inserted note %q, want %q (and the unmapped column's default)", got, trickyNote+"|d")
	}

	// --resume without NATS fails and says why; --fresh alike.
	down := writeCfg("nats://127.0.0.1:" + strings.Split(freeAddr(t), ":")[1])
	for _, flag := range []string{"--resume", "--fresh"} {
		var out, errOut bytes.Buffer
		if code := runFicus(ctx, t, &out, &errOut, "reconcile", "-c", down, "res-test", flag); code != 2 ||
			!strings.Contains(errOut.String(), flag+" needs NATS, where the progress is kept (bucket ficus_reconcile_res_test)") {
			t.Errorf("%s without NATS: exit %d, stderr:\n%s", flag, code, errOut.String())
		}
	}
}

// checkJSONL checks the --output jsonl file: one line per planted
// difference, in key order, with both rows (legacy's after its rules).
func checkJSONL(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type line struct {
		Key    int64              `json:"key"`
		Kind   string             `json:"kind"`
		Legacy map[string]*string `json:"legacy"`
		New    map[string]*string `json:"new"`
	}
	var got []line
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%v: %s", err, sc.Text())
		}
		got = append(got, l)
	}
	str := func(m map[string]*string) string {
		if m == nil {
			return "null"
		}
		var parts []string
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range m {
				if !yield(k) {
					return
				}
			}
		}) {
			v := "NULL"
			if m[k] != nil {
				v = *m[k]
			}
			parts = append(parts, k+"="+v)
		}
		return strings.Join(parts, ",")
	}
	var lines []string
	for _, l := range got {
		lines = append(lines, fmt.Sprintf("%d %s legacy{%s} new{%s}", l.Key, l.Kind, str(l.Legacy), str(l.New)))
	}
	want := []string{
		"100 missing_in_new legacy{amount=12500,note=" + trickyNote + ",status=paid} new{null}",
		"7000 differs legacy{amount=875000,note=n7000,status=paid} new{note=n7000,state=paid,total=1}",
		"12002 differs legacy{amount=1500250,note=n12002,status=paid} new{note=n12002,state=created,total=1500250}",
		"15000 differs legacy{amount=1875000,note=" + trickyNote + ",status=paid} new{note=O'Brien,state=paid,total=1875000}",
		"18000 differs legacy{amount=2250000,note=NULL,status=paid} new{note=not null,state=paid,total=2250000}",
		"25000 missing_in_legacy legacy{null} new{note=stray,state=paid,total=5}",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("--output jsonl:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}
