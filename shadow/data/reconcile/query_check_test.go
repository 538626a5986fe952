package reconcile

import (
	"strings"
	"testing"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

func TestCheckQuery(t *testing.T) {
	tests := []struct {
		engine canon.Engine
		query  string
		err    string // "" when accepted
	}{
		{canon.Postgres, "SELECT o.legacy_id, SUM(i.amount) AS total FROM orders o JOIN order_items i ON i.order_id = o.id GROUP BY 1", ""},
		{canon.Postgres, "  with t AS (SELECT 1 AS id) SELECT id FROM t", ""},
		{canon.MySQL, "(SELECT id, 'a;b' AS v FROM orders)", ""},
		{canon.MySQL, "select\n\tid FROM orders", ""},
		{canon.MySQL, "SELECT id FROM orders; DROP TABLE orders", "';'"},
		{canon.Postgres, "UPDATE orders SET total = 0", "starts with \"UPDATE\""},
		{canon.Postgres, "DELETE FROM orders RETURNING id", "starts with \"DELETE\""},
		{canon.MySQL, "SELECT id FROM orders) UNION (SELECT id FROM secrets", "closes a parenthesis"},
		{canon.MySQL, "SELECT id FROM orders -- rest", "comment"},
		{canon.Postgres, "SELECT $1", "'$'"},
		{canon.Postgres, " ", "empty SELECT"},
		{canon.MySQL, "SELECT 'a\\' FROM t", "backslash"},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			err := CheckQuery(tc.engine, tc.query)
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.err != "" && err == nil:
				t.Errorf("accepted, want an error with %q", tc.err)
			case tc.err != "" && !strings.Contains(err.Error(), tc.err):
				t.Errorf("error %q, want it to mention %q", err, tc.err)
			}
		})
	}
}

// FuzzCheckQuery: whatever CheckQuery accepts stays one SELECT inside the
// parentheses of "(query) AS ficus_q": wrapped it is still accepted, and
// with a ';' or a ')' after it, refused.
func FuzzCheckQuery(f *testing.F) {
	for _, s := range []string{"SELECT 1", "SELECT id FROM t WHERE s = 'x''y'", "WITH a AS (SELECT 1) SELECT * FROM a", "SELECT ')'", "select `a;`"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, e := range []canon.Engine{canon.MySQL, canon.Postgres} {
			if CheckQuery(e, s) != nil {
				continue
			}
			if err := CheckQuery(e, "("+s+")"); err != nil {
				t.Errorf("%q accepted but (%q) refused: %v", s, s, err)
			}
			if CheckQuery(e, s+";") == nil {
				t.Errorf("%q accepted, and so was it with ';' after it", s)
			}
			if CheckQuery(e, s+")") == nil {
				t.Errorf("%q accepted, and so was it with ')' after it", s)
			}
		}
	})
}

// TestRepairSQLQuerySide: no statement for a new side that is a query, the
// keys listed in comments instead.
func TestRepairSQLQuerySide(t *testing.T) {
	res := &Result{Differences: []Difference{
		{Key: 1, Kind: MissingInNew, LegacyRow: []canon.Value{{Text: "9.50"}}},
		{Key: 2, Kind: Differs, Columns: []ColumnDiff{{Legacy: "total", New: "total", LegacyVal: canon.Value{Text: "1"}}}},
		{Key: 3, Kind: MissingInLegacy},
	}}
	tbl := Table{Name: "new query", Key: "legacy_id", Columns: []string{"total"},
		Query: "SELECT legacy_id, SUM(amount) AS total FROM order_items GROUP BY legacy_id"}
	for _, e := range []canon.Engine{canon.Postgres, canon.MySQL} {
		var out strings.Builder
		if err := res.RepairSQL(&out, "orders", e, tbl); err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			if !strings.HasPrefix(line, "-- ") {
				t.Errorf("%s: a line that is not a comment: %q", e, line)
			}
		}
		for _, w := range []string{"new is a query", "-- key 1: missing_in_new", "-- key 2: differs", "-- key 3: missing_in_legacy"} {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: repair SQL lacks %q:\n%s", e, w, out.String())
			}
		}
	}
}
