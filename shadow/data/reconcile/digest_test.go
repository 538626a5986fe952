package reconcile

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/ficus-migrate/ficus/internal/testenv"
)

// testDigest checks the two things the per-bucket digests rely on: rows
// are joined in key order whatever order the table stores them in (the
// key is not the primary key on either side here, and the rows were
// written in shuffled order), and a bucket whose text does not fit
// MariaDB's group_concat_max_len is summed row by row instead of digested
// from a truncated text.
func testDigest(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n = 5000
	// Keys in a shuffled order: i*7919 mod n visits every key once.
	var lvals, nvals []string
	for i := range n {
		k := (i*7919)%n + 1
		lvals = append(lvals, fmt.Sprintf("(%d, %d, 'row %d')", n-k, k, k))
		nvals = append(nvals, fmt.Sprintf("(%d, 'row %d')", k, k))
	}
	my.Exec(t, "CREATE TABLE d (pk INT PRIMARY KEY, k BIGINT NOT NULL UNIQUE, v VARCHAR(20))")
	my.Exec(t, "INSERT INTO d VALUES "+strings.Join(lvals, ", "))
	pg.Exec(t, "CREATE TABLE d (k bigint NOT NULL UNIQUE, v text)")
	pg.Exec(t, "INSERT INTO d VALUES "+strings.Join(nvals, ", "))
	pg.Exec(t, "UPDATE d SET v = v WHERE k % 3 = 0") // move a third of the rows to the heap's end
	pg.Exec(t, "ANALYZE d")
	lt := Table{Name: "ficus.d", Key: "k", Columns: []string{"v"}}
	nt := Table{Name: "public.d", Key: "k", Columns: []string{"v"}}

	t.Run("key order", func(t *testing.T) {
		l, nn := sides(t, ctx, my, pg, lt, nt)
		res, err := Run(ctx, Config{Legacy: l, New: nn, Segments: 8, LeafRows: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Differences) != 0 || res.Stats.Fetched != 0 || res.Stats.RowSums != 0 {
			t.Errorf("equal tables: %d differences, %d rows fetched, %d row-sum scans; want 0, 0, 0 (digests disagree on row order)",
				len(res.Differences), res.Stats.Fetched, res.Stats.RowSums)
		}
	})

	t.Run("too large to digest", func(t *testing.T) {
		pg.Exec(t, "UPDATE d SET v = 'changed' WHERE k = 4321")
		defer pg.Exec(t, "UPDATE d SET v = 'row 4321' WHERE k = 4321")
		// A pool whose group_concat_max_len holds a few rows only: every
		// digest is cut short, and reconcile must notice.
		cfg, err := mysql.ParseDSN(my.DSN())
		if err != nil {
			t.Fatal(err)
		}
		cfg.Params = map[string]string{"time_zone": "'+00:00'", "group_concat_max_len": "64"}
		cfg.Collation = "utf8mb4_general_ci"
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			t.Fatal(err)
		}
		db := sqlOpen(conn)
		defer db.Close()
		l, err := NewMariaDB(MariaDBConfig{DB: db, Table: lt})
		if err != nil {
			t.Fatal(err)
		}
		_, nn := sides(t, ctx, my, pg, lt, nt)
		res, err := Run(ctx, Config{Legacy: l, New: nn, Segments: 8, LeafRows: 10})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range res.Differences {
			got = append(got, describe(d))
		}
		if want := []string{`4321 differs v/v=row 4321/changed`}; !slices.Equal(got, want) {
			t.Errorf("differences %q, want %q", got, want)
		}
		if res.Stats.RowSums == 0 {
			t.Error("no range was summed row by row although every digest was truncated")
		}
		if res.Stats.Fetched > 40 {
			t.Errorf("fetched %d rows for one difference", res.Stats.Fetched)
		}
	})
}

func sqlOpen(c driver.Connector) *sql.DB { return sql.OpenDB(c) }
