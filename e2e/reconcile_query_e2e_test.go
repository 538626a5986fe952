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

	"github.com/ficus-migrate/ficus/internal/testenv"
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
