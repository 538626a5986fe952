package reconcile

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// testWindow plants differences inside and outside a where/min_age window
// and expects only the inside ones back: rows the where leaves out, rows
// touched within min_age on either side (the other side's row of the key
// is then left out too), while a row with no updated_at and one older
// than min_age are compared.
func testWindow(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	my.Exec(t, "CREATE TABLE win (id BIGINT PRIMARY KEY, tenant INT NOT NULL, v INT NOT NULL, updated_at DATETIME(6) NULL)")
	my.Exec(t, "INSERT INTO win SELECT seq, seq % 5, seq, '2024-01-01' FROM seq_1_to_4000")
	pg.Exec(t, "CREATE TABLE win (legacy_id bigint PRIMARY KEY, tenant_ref int NOT NULL, v int NOT NULL, changed_at timestamptz)")
	pg.Exec(t, "INSERT INTO win SELECT s, s % 5, s, '2024-01-01' FROM generate_series(1, 4000) s")
	// Inside the window: reported.
	pg.Exec(t, "UPDATE win SET v = -1 WHERE legacy_id = 10")
	pg.Exec(t, "DELETE FROM win WHERE legacy_id = 21")
	pg.Exec(t, "INSERT INTO win VALUES (4002, 2, 4002, '2024-01-01')")
	my.Exec(t, "UPDATE win SET updated_at = NULL WHERE id = 40")
	pg.Exec(t, "UPDATE win SET v = -1, changed_at = NULL WHERE legacy_id = 40")
	my.Exec(t, "UPDATE win SET updated_at = UTC_TIMESTAMP(6) - INTERVAL 20 MINUTE WHERE id = 50")
	pg.Exec(t, "UPDATE win SET v = -1 WHERE legacy_id = 50")
	// Outside the where (tenant 3).
	pg.Exec(t, "UPDATE win SET v = -1 WHERE legacy_id = 13")
	pg.Exec(t, "DELETE FROM win WHERE legacy_id = 23")
	pg.Exec(t, "INSERT INTO win VALUES (4003, 3, 4003, '2024-01-01')")
	// Touched within min_age, on one side only or on a new row.
	my.Exec(t, "UPDATE win SET v = -1, updated_at = UTC_TIMESTAMP(6) WHERE id = 30")
	pg.Exec(t, "UPDATE win SET v = -1, changed_at = now() WHERE legacy_id = 31")
	pg.Exec(t, "INSERT INTO win VALUES (4005, 0, 4005, now())")
	my.Exec(t, "UPDATE win SET updated_at = UTC_TIMESTAMP(6) - INTERVAL 5 MINUTE WHERE id = 60")
	pg.Exec(t, "UPDATE win SET v = -1 WHERE legacy_id = 60")
	want := []string{"10 differs v/v=10/-1", "21 missing_in_new", "40 differs v/v=40/-1", "50 differs v/v=50/-1", "4002 missing_in_legacy"}

	legacy := Table{Name: "ficus.win", Key: "id", Columns: []string{"tenant", "v"},
		Where: "tenant <> 3", UpdatedAt: "updated_at", MinAge: 10 * time.Minute}
	new := Table{Name: "public.win", Key: "legacy_id", Columns: []string{"tenant_ref", "v"},
		Where: "tenant_ref <> 3", UpdatedAt: "changed_at", MinAge: 10 * time.Minute}
	// Default sizes fetch whole small ranges; LeafRows 1 bisects down to
	// single keys, where a key recent on one side only makes every
	// level's checksums differ.
	for _, cfg := range []Config{{}, {Segments: 4, LeafRows: 1}} {
		l, n := sides(t, ctx, my, pg, legacy, new)
		cfg.Legacy, cfg.New = l, n
		res, err := Run(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range res.Differences {
			got = append(got, describe(d))
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("leaf rows %d: differences:\n%s\nwant:\n%s", cfg.LeafRows, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		// 4000 rows, 800 of tenant 3, 30 and 60 recent.
		if res.Stats.LegacyRows != 3198 {
			t.Errorf("leaf rows %d: %d legacy rows compared, want 3198", cfg.LeafRows, res.Stats.LegacyRows)
		}
		// Both checksum methods see the same window.
		for _, side := range []Side{l, n} {
			var counts []int64
			for _, m := range []Method{Digest, RowSum} {
				sums, err := side.Checksums(ctx, 1, 5000, 5000, m)
				if err != nil {
					t.Fatal(err)
				}
				counts = append(counts, sums[0].Count)
			}
			if counts[0] != counts[1] {
				t.Errorf("%s: %d rows by digest, %d by row sums", side.Table().Name, counts[0], counts[1])
			}
		}
	}
}

// testWhereRefused: a fragment that could be more than one condition is
// refused when the side is made, one the database cannot plan when the
// run starts, and neither touches the tables.
func testWhereRefused(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	my.Exec(t, "CREATE TABLE victim (id BIGINT PRIMARY KEY, v INT NOT NULL)")
	my.Exec(t, "INSERT INTO victim SELECT seq, seq FROM seq_1_to_100")
	pg.Exec(t, "CREATE TABLE victim (legacy_id bigint PRIMARY KEY, v int NOT NULL)")
	pg.Exec(t, "INSERT INTO victim SELECT s, s FROM generate_series(1, 100) s")
	db, err := OpenMariaDB(ctx, my.DSN(), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pool, err := OpenPostgres(ctx, pg.DSN(), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close(context.Background())
	legacy := Table{Name: "ficus.victim", Key: "id", Columns: []string{"v"}}
	new := Table{Name: "public.victim", Key: "legacy_id", Columns: []string{"v"}}
	tests := []struct {
		engine canon.Engine
		where  string
		atRun  bool // refused by the database at start, not by CheckWhere
		want   string
	}{
		{canon.MySQL, "v > 0; DROP TABLE victim", false, "never a second statement"},
		{canon.MySQL, "v > 0) OR (1 = 1", false, "closes a parenthesis"},
		{canon.MySQL, "v > 0 -- ", false, "comment"},
		{canon.MySQL, "v > 0 UNION SELECT 1", true, "refused the where/min_age condition"},
		{canon.MySQL, "no_such_column = 1", true, "refused the where/min_age condition"},
		{canon.Postgres, "v > 0;DROP TABLE victim", false, "never a second statement"},
		{canon.Postgres, "v > 0) OR (true", false, "closes a parenthesis"},
		{canon.Postgres, "v > $$0$$", false, "dollar quoting"},
		{canon.Postgres, "v > 0 UNION SELECT 1", true, "refused the where/min_age condition"},
		{canon.Postgres, "no_such_column = 1", true, "refused the where/min_age condition"},
	}
	for _, tc := range tests {
		t.Run(string(tc.engine)+" "+tc.where, func(t *testing.T) {
			l, n := legacy, new
			var err error
			var ls, ns Side
			if tc.engine == canon.MySQL {
				l.Where = tc.where
			} else {
				n.Where = tc.where
			}
			if ls, err = NewMariaDB(MariaDBConfig{DB: db, Table: l}); err == nil {
				ns, err = NewPostgres(PostgresConfig{Pool: pool, Table: n})
			}
			if err == nil {
				if !tc.atRun {
					t.Fatalf("side made with where %q", tc.where)
				}
				_, err = Run(ctx, Config{Legacy: ls, New: ns})
			} else if tc.atRun {
				t.Fatalf("refused before the database saw it: %v", err)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one with %q", err, tc.want)
			}
		})
	}
	if got := my.QueryString(t, "SELECT COUNT(*) FROM victim"); got != "100" {
		t.Errorf("legacy victim has %s rows", got)
	}
	if got := pg.QueryString(t, "SELECT count(*)::text FROM victim"); got != "100" {
		t.Errorf("new victim has %s rows", got)
	}
}
