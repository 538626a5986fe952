package e2e

import (
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

	"github.com/nats-io/nats.go"

	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/shadow/data/continuous"
)

// testReconcileQuery runs `ficus reconcile` on a comparison whose new side
// is a query (new's orders with their items summed to legacy's one row
// per order): it finds the planted differences, writes them with
// --output jsonl, and --repair-sql lists their keys without a statement
// (a warning says so); `ficus run` refuses the comparison at start, its
// query side naming no query_tables.
func testReconcileQuery(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres) {
	my.Exec(t, `CREATE TABLE qorders (id BIGINT PRIMARY KEY, total DECIMAL(12,2) NOT NULL)`)
	my.Exec(t, `INSERT INTO qorders SELECT seq, IF(seq % 2, seq % 50 + 0.5, 3 * (seq % 50) + 2.5) FROM seq_1_to_1000`)
	pg.Exec(t, `CREATE TABLE qorders (id bigint PRIMARY KEY, legacy_id bigint NOT NULL UNIQUE)`)
	pg.Exec(t, `CREATE TABLE qitems (order_id bigint NOT NULL, line_no int NOT NULL, quantity int NOT NULL,
		price numeric(10,2) NOT NULL, PRIMARY KEY (order_id, line_no))`)
	pg.Exec(t, `INSERT INTO qorders SELECT s + 5000, s FROM generate_series(1, 1000) s`)
	// Odd orders: one line; even ones: two (quantity 1 and 2 at price + 0.5, price + 1).
	pg.Exec(t, `INSERT INTO qitems SELECT s + 5000, l, l, s % 50 + l * 0.5 FROM generate_series(1, 1000) s, generate_series(1, 2) l
		WHERE l = 1 OR s % 2 = 0`)
	pg.Exec(t, `DELETE FROM qitems WHERE order_id = 5007`)                             // 7: no items, total 0
	pg.Exec(t, `UPDATE qitems SET quantity = 3 WHERE order_id = 5010 AND line_no = 2`) // 10: a wrong sum
	pg.Exec(t, `DELETE FROM qorders WHERE legacy_id = 12`)                             // 12: missing in new
	cfg := filepath.Join(t.TempDir(), "ficus.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`capture:
  sources:
    - { name: shop, type: mysql, dsn: "%s", server_id: 4003 }
    - { name: orders_svc, type: postgres, dsn: "%s" }
compare_data:
  - name: totals
    legacy: { source: shop, table: ficus.qorders, key: [id] }
    new:
      source: orders_svc
      query: >-
        SELECT o.legacy_id, COALESCE(SUM(i.quantity * i.price), 0) AS total
        FROM public.qorders o LEFT JOIN public.qitems i ON i.order_id = o.id GROUP BY o.legacy_id
      key: [legacy_id]
    columns: { total: total }
`, my.DSN(), pg.DSN())), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	jsonl, repair := filepath.Join(dir, "d.jsonl"), filepath.Join(dir, "repair.sql")
	var out, stderr bytes.Buffer
	code := runFicus(ctx, t, &out, &stderr, "reconcile", "-c", cfg, "totals", "--format", "json",
		"--output", "jsonl", jsonl, "--repair-sql", repair)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (differences):\n%s", code, stderr.String())
	}
	var res struct {
		Differences []struct {
			Key  int64  `json:"key"`
			Kind string `json:"kind"`
		} `json:"differences"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	var got []string
	for _, d := range res.Differences {
		got = append(got, fmt.Sprintf("%d %s", d.Key, d.Kind))
	}
	if want := []string{"7 differs", "10 differs", "12 missing_in_new"}; !slices.Equal(got, want) {
		t.Errorf("differences %q, want %q", got, want)
	}
	if b, err := os.ReadFile(jsonl); err != nil || !strings.Contains(string(b), `"new":{"total":"0"}`) || strings.Count(string(b), "\n") != 3 {
		t.Errorf("--output jsonl (%v):\n%s", err, b)
	}
	b, err := os.ReadFile(repair)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if !strings.HasPrefix(line, "-- ") {
			t.Errorf("--repair-sql holds a statement for a query side: %q", line)
		}
	}
	if !strings.Contains(string(b), "-- key 12: missing_in_new") || !strings.Contains(stderr.String(), "writes no statements") {
		t.Errorf("--repair-sql:\n%s\nstderr:\n%s", b, stderr.String())
	}
	// Continuous mode refuses a query side without query_tables before it
	// starts anything.
	stderr.Reset()
	if code := runFicus(ctx, t, &out, &stderr, "run", "-c", cfg); code != 1 ||
		!strings.Contains(stderr.String(), "such a query side is compared by ficus reconcile only") {
		t.Errorf("ficus run: exit %d, stderr:\n%s", code, stderr.String())
	}
}

// testDataContinuousQuery runs `ficus run` with a query side that follows
// query_tables: legacy's orders (one row with its total, captured from
// MariaDB) against new's orders and items summed by a query on
// PostgreSQL, both new tables captured. An order missing in new and a
// wrong item sum are the findings; fixing the item resolves its finding.
func testDataContinuousQuery(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres) {
	my.Exec(t, `CREATE TABLE cq_orders (id BIGINT PRIMARY KEY, total DECIMAL(12,2) NOT NULL)`)
	pg.Exec(t, `CREATE TABLE cq_orders (id bigint PRIMARY KEY, status text NOT NULL)`)
	pg.Exec(t, `CREATE TABLE cq_items (order_id bigint NOT NULL, line_no int NOT NULL, amount numeric(10,2) NOT NULL,
		PRIMARY KEY (order_id, line_no))`)
	natsAddr, adminAddr := freeAddr(t), freeAddr(t)
	cfg := writeConfig(t, fmt.Sprintf(`
nats: {embedded: {listen: %q, store_dir: %q}}
admin: {listen: %q}
capture:
  sources:
    - {name: qshop, type: mysql, dsn: %q, server_id: 4301, tables: [ficus.cq_orders]}
    - {name: qsvc, type: postgres, dsn: %q, tables: [public.cq_orders, public.cq_items]}
compare_data:
  - name: orders
    legacy: {source: qshop, table: ficus.cq_orders, key: [id]}
    new:
      source: qsvc
      query: SELECT o.id, COALESCE(SUM(i.amount), 0) AS total FROM public.cq_orders o LEFT JOIN public.cq_items i ON i.order_id = o.id GROUP BY o.id
      key: [id]
      query_tables: [public.cq_orders, public.cq_items]
      key_from: {public.cq_items: order_id}
    columns: {total: total}
    max_lag: 3s
`, natsAddr, t.TempDir(), adminAddr, my.DSN(), pg.DSN()))
	logs := &testenv.LogBuffer{}
	proc := startFicus(t, buildFicus(t), logs, "run", "-c", cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ficus logs:\n%s", tail(logs.String(), 8000))
		}
	})
	waitAdminReady(t, adminAddr, "", proc.exited)

	const orders = 200
	my.Exec(t, fmt.Sprintf(`INSERT INTO cq_orders SELECT seq, 2 * seq + 1.5 FROM seq_1_to_%d`, orders))
	pg.Exec(t, fmt.Sprintf(`INSERT INTO cq_orders SELECT s, 'open' FROM generate_series(1, %d) s WHERE s <> 50`, orders))
	pg.Exec(t, fmt.Sprintf(`INSERT INTO cq_items SELECT s, l, s + (l - 1) * (CASE WHEN s = 77 THEN 2.5 ELSE 1.5 END)
		FROM generate_series(1, %d) s, generate_series(1, 2) l WHERE s <> 50`, orders))
	figs := waitFigures(t, adminAddr, func(f continuous.Figures) bool {
		return f.KeysSeen == orders && f.Pending == 0 && f.MissingInNew == 1 && f.Differing == 1
	})
	if figs.Matched != orders-2 || figs.Errors != 0 || figs.QueryReads < 1 {
		t.Errorf("figures %+v", figs)
	}
	t.Logf("%d query reads for %d orders and %d items", figs.QueryReads, orders-1, 2*(orders-1))
	nc, err := nats.Connect(natsURLOf(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	want := []string{"50 missing_in_new", "77 differs total→total=155.5/156.5"}
	if got := findings(t, nc, len(want)); !slices.Equal(got, want) {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Fixing the item is a change of cq_items only: the query is read again.
	pg.Exec(t, `UPDATE cq_items SET amount = 78.5 WHERE order_id = 77 AND line_no = 2`)
	if figs = waitFigures(t, adminAddr, func(f continuous.Figures) bool { return f.Resolved == 1 }); figs.Differing != 0 {
		t.Errorf("after the fix: %+v", figs)
	}
}
