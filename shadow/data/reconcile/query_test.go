package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/internal/testenv"
)

// queryOrders is how many orders the query-side case loads: a few
// thousand, enough for several ranges and levels of bisection.
const queryOrders = 3000

// newOrdersQuery reshapes new's orders and order_items into legacy's one
// row per order with its total.
const newOrdersQuery = `SELECT o.legacy_id, o.customer_ref, o.state, COALESCE(SUM(i.quantity * i.unit_price), 0) AS total
	FROM public.q_orders o LEFT JOIN public.q_order_items i ON i.order_id = o.id
	GROUP BY o.legacy_id, o.customer_ref, o.state`

// loadQueryOrders loads legacy's orders with their totals (MariaDB) and
// new's orders with 1 to 3 items each (PostgreSQL) that sum to them:
// order s has s%3+1 lines, line l of quantity l at price s%100 + l/4.
func loadQueryOrders(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres) {
	my.Exec(t, `CREATE TABLE q_orders (id BIGINT PRIMARY KEY, customer_id INT NOT NULL, status VARCHAR(20) NOT NULL,
		total DECIMAL(12,2) NOT NULL)`)
	my.Exec(t, fmt.Sprintf(`INSERT INTO q_orders SELECT seq, seq %% 97, IF(seq %% 10 = 0, 'shipped', 'open'),
		CASE seq %% 3 WHEN 0 THEN seq %% 100 + 0.25 WHEN 1 THEN 3 * (seq %% 100) + 1.25 ELSE 6 * (seq %% 100) + 3.5 END
		FROM seq_1_to_%d`, queryOrders))
	pg.Exec(t, `CREATE TABLE q_orders (id bigint PRIMARY KEY, legacy_id bigint NOT NULL UNIQUE, customer_ref int NOT NULL,
		state text NOT NULL)`)
	pg.Exec(t, `CREATE TABLE q_order_items (order_id bigint NOT NULL REFERENCES q_orders (id), line_no int NOT NULL,
		quantity int NOT NULL, unit_price numeric(10,2) NOT NULL, PRIMARY KEY (order_id, line_no))`)
	pg.Exec(t, fmt.Sprintf(`INSERT INTO q_orders SELECT s + 100000, s, s %% 97, CASE WHEN s %% 10 = 0 THEN 'shipped' ELSE 'open' END
		FROM generate_series(1, %d) s`, queryOrders))
	pg.Exec(t, fmt.Sprintf(`INSERT INTO q_order_items SELECT s + 100000, l, l, s %% 100 + l * 0.25
		FROM generate_series(1, %d) s, generate_series(1, 3) l WHERE l <= s %% 3 + 1`, queryOrders))
	pg.Exec(t, "ANALYZE q_orders")
	pg.Exec(t, "ANALYZE q_order_items")
}

// plantQueryDiffs plants the 10 differences, among them a missing
// order and wrong item sums, and returns them as describe shows them.
func plantQueryDiffs(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres) []string {
	item := func(s int) int { return s + 100000 }
	// 1: an order missing in new (with its items).
	pg.Exec(t, "DELETE FROM q_order_items WHERE order_id = $1", item(101))
	pg.Exec(t, "DELETE FROM q_orders WHERE legacy_id = 101")
	// 2: one item's quantity wrong: 202 has 2 lines (3*2 + 1.25 = 7.25),
	// line 2 at 2.50 goes from 2 to 5.
	pg.Exec(t, "UPDATE q_order_items SET quantity = 5 WHERE order_id = $1 AND line_no = 2", item(202))
	// 3: an extra item line on 303 (1 line: 3.25).
	pg.Exec(t, "INSERT INTO q_order_items VALUES ($1, 2, 1, 1.00)", item(303))
	// 4: an item line missing on 404 (3 lines: 6*4 + 3.5 = 27.5; line 3 is 3 * 4.75).
	pg.Exec(t, "DELETE FROM q_order_items WHERE order_id = $1 AND line_no = 3", item(404))
	// 5: every item of 505 gone: total 0 (2 lines: 3*5 + 1.25 = 16.25).
	pg.Exec(t, "DELETE FROM q_order_items WHERE order_id = $1", item(505))
	// 6: a unit price off by a cent on 606 (1 line: 6.25).
	pg.Exec(t, "UPDATE q_order_items SET unit_price = 6.26 WHERE order_id = $1", item(606))
	// 7: an order only new has.
	pg.Exec(t, "INSERT INTO q_orders VALUES (200000, 99999, 1, 'open')")
	pg.Exec(t, "INSERT INTO q_order_items VALUES (200000, 1, 1, 1.00)")
	// 8: an order legacy lost.
	my.Exec(t, "DELETE FROM q_orders WHERE id = 808")
	// 9: a status that differs; 10: a customer that differs.
	pg.Exec(t, "UPDATE q_orders SET state = 'cancelled' WHERE legacy_id = 909")
	my.Exec(t, "UPDATE q_orders SET customer_id = 1 WHERE id = 1010")
	return []string{
		"101 missing_in_new",
		"202 differs total/total=7.25/14.75",
		"303 differs total/total=3.25/4.25",
		"404 differs total/total=27.5/13.25",
		"505 differs total/total=16.25/0",
		"606 differs total/total=6.25/6.26",
		"808 missing_in_legacy",
		"909 differs status/state=open/cancelled",
		"1010 differs customer_id/customer_ref=1/40",
		"99999 missing_in_legacy",
	}
}

// testQuerySides: legacy orders (one row with a total) against new's
// orders and order_items summed by a query side finds exactly the 10
// planted differences, from either side being the query, at every depth
// of bisection; a query side and the table it reads give identical
// checksums; where applies to a query's output columns; and what is not
// one SELECT over existing columns is refused before any range is read.
func testQuerySides(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	loadQueryOrders(t, my, pg)
	want := plantQueryDiffs(t, my, pg)
	legacyTable := Table{Name: "ficus.q_orders", Key: "id", Columns: []string{"customer_id", "status", "total"}}
	legacyQuery := Table{Name: "legacy query", Key: "id", Columns: []string{"customer_id", "status", "total"},
		Query: "SELECT o.id, o.customer_id, o.status, o.total FROM ficus.q_orders o"}
	newQuery := Table{Name: "new query", Key: "legacy_id", Columns: []string{"customer_ref", "state", "total"}, Query: newOrdersQuery}

	for _, c := range []struct {
		name   string
		legacy Table
		cfg    Config
	}{
		{"legacy table", legacyTable, Config{}},
		{"legacy table, bisected to single keys", legacyTable, Config{Segments: 4, LeafRows: 1}},
		{"legacy query", legacyQuery, Config{Segments: 8, LeafRows: 10}},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, n := sides(t, ctx, my, pg, c.legacy, newQuery)
			cfg := c.cfg
			cfg.Legacy, cfg.New = l, n
			res, err := Run(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range res.Differences {
				got = append(got, describe(d))
			}
			if !slices.Equal(got, want) {
				t.Errorf("differences:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if res.Stats.LegacyRows != queryOrders-1 || res.Stats.NewRows != queryOrders {
				t.Errorf("rows %d / %d, want %d / %d", res.Stats.LegacyRows, res.Stats.NewRows, queryOrders-1, queryOrders)
			}
			var jsonl strings.Builder
			if err := res.JSONL(&jsonl, c.legacy.Columns, newQuery.Columns); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(jsonl.String()), "\n")
			var first struct {
				Key int64             `json:"key"`
				New map[string]string `json:"new"`
			}
			if len(lines) != len(want) || json.Unmarshal([]byte(lines[1]), &first) != nil || first.Key != 202 || first.New["total"] != "14.75" {
				t.Errorf("jsonl of the query side:\n%s", jsonl.String())
			}
		})
	}

	t.Run("tuple key", func(t *testing.T) {
		lt := Table{Name: "ficus.q_orders", KeyColumns: []string{"status", "id"}, Columns: []string{"customer_id", "total"}}
		nq := Table{Name: "new query", KeyColumns: []string{"state", "legacy_id"}, Columns: []string{"customer_ref", "total"}, Query: newOrdersQuery}
		l, n := sides(t, ctx, my, pg, lt, nq)
		res, err := Run(ctx, Config{Legacy: l, New: n, Segments: 4, LeafRows: 20})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range res.Differences {
			got = append(got, describeTuple(d))
		}
		// The status is part of the key: 909's changed state moves it.
		want := []string{
			`["cancelled","909"] missing_in_legacy`,
			`["open","101"] missing_in_new`,
			`["open","202"] differs total/total=7.25/14.75`,
			`["open","303"] differs total/total=3.25/4.25`,
			`["open","404"] differs total/total=27.5/13.25`,
			`["open","505"] differs total/total=16.25/0`,
			`["open","606"] differs total/total=6.25/6.26`,
			`["open","808"] missing_in_legacy`,
			`["open","909"] missing_in_new`,
			`["open","99999"] missing_in_legacy`,
			`["shipped","1010"] differs customer_id/customer_ref=1/40`,
		}
		if !slices.Equal(got, want) {
			t.Errorf("differences:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})

	t.Run("query checksums equal the table's", func(t *testing.T) {
		db, err := OpenMariaDB(ctx, my.DSN(), 2)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var sums [2][2]map[int64]Sum
		for i, tbl := range []Table{legacyTable, legacyQuery} {
			s, err := NewMariaDB(MariaDBConfig{DB: db, Table: tbl})
			if err != nil {
				t.Fatal(err)
			}
			types, err := s.Describe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Prepare(Kinds(types, []string{"integer", "text", "numeric"}, nil)); err != nil {
				t.Fatal(err)
			}
			for j, m := range []Method{Digest, RowSum} {
				if sums[i][j], err = s.Checksums(ctx, 1, queryOrders, 250, m); err != nil {
					t.Fatal(err)
				}
			}
		}
		for j := range 2 {
			if len(sums[0][j]) != 12 || fmt.Sprint(sums[0][j]) != fmt.Sprint(sums[1][j]) {
				t.Errorf("method %d: table %v\nquery %v", j, sums[0][j], sums[1][j])
			}
		}
	})

	t.Run("where on a query side", func(t *testing.T) {
		lt, nq := legacyTable, newQuery
		lt.Where, nq.Where = "total < 50", "total < 50"
		l, n := sides(t, ctx, my, pg, lt, nq)
		res, err := Run(ctx, Config{Legacy: l, New: n})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range res.Differences {
			got = append(got, describe(d))
		}
		// Every planted key but 1010, whose total (6*10 + 3.5) is 63.5 on both sides.
		in := slices.DeleteFunc(slices.Clone(want), func(w string) bool { return strings.HasPrefix(w, "1010 ") })
		if !slices.Equal(got, in) {
			t.Errorf("differences:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(in, "\n"))
		}
	})

	t.Run("refused", func(t *testing.T) {
		for _, c := range []struct {
			name  string
			query string
			cols  []string
			want  string
		}{
			{"no such column", newOrdersQuery, []string{"customer_ref", "state", "amount"}, `has no column "amount"`},
			{"no such table", "SELECT 1 AS legacy_id, 2 AS customer_ref FROM public.nowhere", []string{"customer_ref"}, "refused the query"},
			{"second statement", "SELECT 1 AS legacy_id; DROP TABLE q_orders", []string{"x"}, "never a second statement"},
			{"not a select", "DELETE FROM q_orders RETURNING legacy_id", []string{"x"}, "one SELECT"},
			{"min_age without an updated_at column", newOrdersQuery, []string{"state"}, `new query has no updated_at column "updated_at"`},
			{"duplicate column", "SELECT legacy_id, state, customer_ref AS state FROM public.q_orders", []string{"state"}, "two columns named"},
		} {
			tbl := Table{Name: "new query", Key: "legacy_id", Columns: c.cols, Query: c.query}
			if c.name == "min_age without an updated_at column" {
				tbl.UpdatedAt, tbl.MinAge = "updated_at", time.Minute
			}
			pool, err := OpenPostgres(ctx, pg.DSN(), 1)
			if err != nil {
				t.Fatal(err)
			}
			s, err := NewPostgres(PostgresConfig{Pool: pool, Table: tbl})
			if err == nil {
				_, err = s.Describe(ctx)
			}
			pool.Close(ctx)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: error %v, want %q", c.name, err, c.want)
			}
		}
		if n := pg.QueryString(t, "SELECT count(*) FROM q_orders"); n != fmt.Sprint(queryOrders) {
			t.Errorf("q_orders holds %s rows after the refused queries", n)
		}
	})
}
