package reconcile

import (
	"strings"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

func TestCheckWhere(t *testing.T) {
	tests := []struct {
		engine canon.Engine
		where  string
		err    string // "" when accepted
	}{
		{canon.MySQL, "deleted = 0", ""},
		{canon.MySQL, "tenant IN (1, 2) AND (status = 'a;b' OR note = 'it''s')", ""},
		{canon.MySQL, "`odd;name` = 1 AND x IN (SELECT id FROM t WHERE y > 2)", ""},
		{canon.Postgres, `"Weird)Name" = 'x' AND a$b = 1`, "'$'"},
		{canon.Postgres, `"Weird)Name" = 'x' AND created_at > now() - interval '1 day'`, ""},
		{canon.MySQL, "deleted = 0; DROP TABLE orders", "';'"},
		{canon.Postgres, "1=1;DELETE FROM orders", "';'"},
		{canon.MySQL, "deleted = 0) OR (1 = 1", "closes a parenthesis"},
		{canon.MySQL, "(deleted = 0", "unclosed"},
		{canon.MySQL, "deleted = 0 -- rest", "comment"},
		{canon.Postgres, "deleted = 0 /* rest */", "comment"},
		{canon.MySQL, "deleted = 0 # rest", "comment"},
		{canon.Postgres, "deleted = 0 # 1", ""}, // an operator in PostgreSQL (xor)
		{canon.MySQL, "name = 'unterminated", "unterminated"},
		{canon.MySQL, `name = 'a\' OR 1=1 -- '`, "backslash"},
		{canon.Postgres, "name = $$x$$", "'$'"},
		{canon.Postgres, "id = $1", "'$'"},
		{canon.MySQL, "  ", "empty"},
		{canon.MySQL, "a = 1\x00", "NUL"},
		{canon.Postgres, "`x` = 1", ""}, // not a quote in PostgreSQL: the database refuses it
	}
	for _, tc := range tests {
		t.Run(tc.where, func(t *testing.T) {
			err := CheckWhere(tc.engine, tc.where)
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

// FuzzCheckWhere: whatever CheckWhere accepts stays one condition inside
// the parentheses it is put in: wrapping it keeps it accepted, and adding a
// ';' or a ')' after it is refused (so nothing in it left a quote or a
// parenthesis open that would hide them).
func FuzzCheckWhere(f *testing.F) {
	for _, s := range []string{"deleted = 0", "a IN (1, 2)", "s = 'x''y'", "`a` = \"b\"", "x) OR (1=1", "'", "a -- b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, e := range []canon.Engine{canon.MySQL, canon.Postgres} {
			if CheckWhere(e, s) != nil {
				continue
			}
			if err := CheckWhere(e, "("+s+")"); err != nil {
				t.Errorf("%q accepted but (%q) refused: %v", s, s, err)
			}
			if CheckWhere(e, s+";") == nil {
				t.Errorf("%q accepted, and so was it with ';' after it", s)
			}
			if CheckWhere(e, s+")") == nil {
				t.Errorf("%q accepted, and so was it with ')' after it", s)
			}
		}
	})
}

func TestWindowSQL(t *testing.T) {
	now := time.Date(2026, 12, 7, 3, 0, 0, 123456000, time.UTC)
	tests := []struct {
		name   string
		engine canon.Engine
		table  Table
		want   window
	}{
		{"none", canon.MySQL, Table{}, window{}},
		{"where", canon.MySQL, Table{Where: "deleted = 0"}, window{all: "(deleted = 0)", where: "(deleted = 0)"}},
		{"min_age mysql", canon.MySQL, Table{UpdatedAt: "updated_at", MinAge: 10 * time.Minute}, window{
			all:    "(`updated_at` < TIMESTAMP '2026-12-07 02:50:00.123456' OR `updated_at` IS NULL)",
			recent: "COALESCE(`updated_at` >= TIMESTAMP '2026-12-07 02:50:00.123456', FALSE)",
		}},
		{"both postgres", canon.Postgres, Table{Where: "a = 1", UpdatedAt: "changed", MinAge: time.Hour}, window{
			all:    `(a = 1) AND ("changed" < TIMESTAMPTZ '2026-12-07 02:00:00.123456+00' OR "changed" IS NULL)`,
			where:  "(a = 1)",
			recent: `COALESCE("changed" >= TIMESTAMPTZ '2026-12-07 02:00:00.123456+00', FALSE)`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.table.windowSQL(tc.engine, now); got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestDropRecent(t *testing.T) {
	legacy := []Row{{Key: 1}, {Key: 2, Recent: true}, {Key: 3}, {Key: 5}}
	new := []Row{{Key: 1}, {Key: 2}, {Key: 3, Recent: true}, {Key: 4, Recent: true}, {Key: 6}}
	l, n := dropRecent(legacy, new)
	keys := func(rows []Row) (out []int64) {
		for _, r := range rows {
			out = append(out, r.Key)
		}
		return out
	}
	if got := keys(l); len(got) != 2 || got[0] != 1 || got[1] != 5 {
		t.Errorf("legacy keys %v, want [1 5]", got)
	}
	if got := keys(n); len(got) != 2 || got[0] != 1 || got[1] != 6 {
		t.Errorf("new keys %v, want [1 6]", got)
	}
}
