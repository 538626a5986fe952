package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/ficus-migrate/ficus/shadow/data/reconcile"
)

// The key-kinds benchmark: ficus reconcile of the same rows keyed three
// ways — one integer column (integer ranges), a composite key (bigint,
// smallint) and a UUID (MariaDB BINARY(16) against PostgreSQL uuid), both
// compared by key tuples — with 20 planted differences each. The issue's
// goal: composite and UUID keys within 1.5 × the integer key's time.

// keyTable is one table pair: its key columns' DDL, the key of row number
// seq (MariaDB) / s (PostgreSQL), and the condition selecting row n.
type keyTable struct {
	name                    string
	keys                    []string
	legacyKeyDDL, newKeyDDL string
	legacyKey, newKey       string
	legacyRow, newRow       string // conditions with %d for the row number
}

var keyTables = []keyTable{
	{name: "k_int", keys: []string{"id"},
		legacyKeyDDL: "id BIGINT NOT NULL PRIMARY KEY", newKeyDDL: "id bigint NOT NULL PRIMARY KEY",
		legacyKey: "seq", newKey: "s", legacyRow: "id = %d", newRow: "id = %d"},
	{name: "k_composite", keys: []string{"order_id", "line_no"},
		legacyKeyDDL: "order_id BIGINT NOT NULL, line_no SMALLINT NOT NULL, PRIMARY KEY (order_id, line_no)",
		newKeyDDL:    "order_id bigint NOT NULL, line_no smallint NOT NULL, PRIMARY KEY (order_id, line_no)",
		legacyKey:    "seq DIV 4, seq % 4", newKey: "s / 4, s % 4",
		legacyRow: "order_id = %[1]d DIV 4 AND line_no = %[1]d %% 4", newRow: "order_id = %[1]d / 4 AND line_no = %[1]d %% 4"},
	{name: "k_uuid", keys: []string{"id"},
		legacyKeyDDL: "id BINARY(16) NOT NULL PRIMARY KEY", newKeyDDL: "id uuid NOT NULL PRIMARY KEY",
		legacyKey: "UNHEX(MD5(seq))", newKey: "md5(s::text)::uuid",
		legacyRow: "id = UNHEX(MD5(%d))", newRow: "id = md5('%d')::uuid"},
}

type keysRow struct {
	Table       string  `json:"table"`
	WallSeconds float64 `json:"wall_seconds"`
	// DBSeconds is both sides' query time added up, as reconcile's client
	// saw it: less sensitive than the wall time to a busy machine.
	DBSeconds   float64 `json:"db_seconds"`
	LegacyDB    float64 `json:"legacy_db_seconds"`
	NewDB       float64 `json:"new_db_seconds"`
	Checksums   int64   `json:"checksums"`
	Fetched     int64   `json:"rows_fetched"`
	Differences int     `json:"differences"`
}

type keysResult struct {
	Time      time.Time          `json:"time"`
	GoVersion string             `json:"go_version"`
	CPUs      int                `json:"cpus"`
	Rows      int                `json:"rows"`
	Runs      []keysRow          `json:"runs"`
	Ratios    map[string]float64 `json:"ratio_to_integer_key"`
	DBRatios  map[string]float64 `json:"db_time_ratio_to_integer_key"`
}

func reconcileKeysBenchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reconcile-keys", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rows := fs.Int("rows", 200_000, "rows per side and key kind")
	rounds := fs.Int("rounds", 3, "measurements of each key kind, alternating")
	parallel := fs.Int("parallel", 2, "reconcile: ranges checksummed at once")
	outDir := fs.String("out", "bench-results", "directory for the JSON result")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, log, done := benchRun(ctx, stderr, "reconcile-keys", 20*time.Minute)
	defer done()
	pg, err := startPostgres(ctx, log, "shared_buffers="+benchBuffers)
	if err != nil {
		return err
	}
	defer closeLogged(log, "postgres", pg)
	maria, err := startMariaDB(ctx, log)
	if err != nil {
		return err
	}
	defer closeLogged(log, "mariadb", maria)
	log.Info("loading", "rows", *rows, "tables", len(keyTables))
	if err := loadKeyTables(ctx, maria.DSN(), pg.DSN(), *rows); err != nil {
		return err
	}
	res := keysResult{Time: time.Now().UTC(), GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), Rows: *rows,
		Ratios: map[string]float64{}, DBRatios: map[string]float64{}}
	for i := range *rounds {
		for _, kt := range keyTables {
			log.Info("reconcile", "table", kt.name, "round", i+1)
			cols := []string{"status", "amount", "note", "updated_at"}
			legacy := reconcile.Endpoint{Engine: "mysql", DSN: maria.DSN(),
				Table: reconcile.Table{Name: "ficus." + kt.name, KeyColumns: kt.keys, Columns: cols}}
			neu := reconcile.Endpoint{Engine: "postgres", DSN: pg.DSN(),
				Table: reconcile.Table{Name: "public." + kt.name, KeyColumns: kt.keys, Columns: cols}}
			l, n, closeSides, err := reconcile.Open(ctx, legacy, neu, *parallel)
			if err != nil {
				return err
			}
			r, err := reconcile.Run(ctx, reconcile.Config{Legacy: l, New: n, Parallel: *parallel})
			closeSides()
			if err != nil {
				return fmt.Errorf("%s: %w", kt.name, err)
			}
			if len(r.Differences) != 20 {
				return fmt.Errorf("%s: %d differences, want the 20 planted", kt.name, len(r.Differences))
			}
			res.Runs = append(res.Runs, keysRow{Table: kt.name, WallSeconds: r.Stats.Wall.Seconds(),
				DBSeconds: (r.Stats.LegacyDBTime + r.Stats.NewDBTime).Seconds(),
				LegacyDB:  r.Stats.LegacyDBTime.Seconds(), NewDB: r.Stats.NewDBTime.Seconds(),
				Checksums: r.Stats.Checksums, Fetched: r.Stats.Fetched, Differences: len(r.Differences)})
		}
	}
	medianOf := func(table string, db bool) float64 {
		var rr []reconcileRow
		for _, r := range res.Runs {
			if r.Table == table {
				v := r.WallSeconds
				if db {
					v = r.DBSeconds
				}
				rr = append(rr, reconcileRow{Name: table, WallSeconds: v})
			}
		}
		return median(rr, table, wall)
	}
	base, baseDB := medianOf("k_int", false), medianOf("k_int", true)
	fmt.Fprintf(stdout, "\n%d rows per side and key kind, 20 planted differences each (MariaDB legacy, PostgreSQL new), %d CPUs\n\n", *rows, res.CPUs)
	fmt.Fprintf(stdout, "| key | median wall s | × integer key | median query s | × integer key | last run: legacy / new query s | range checksums | rows fetched |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, kt := range keyTables {
		m, mdb := medianOf(kt.name, false), medianOf(kt.name, true)
		res.Ratios[kt.name] = m / base
		res.DBRatios[kt.name] = mdb / baseDB
		var last keysRow
		for _, r := range res.Runs {
			if r.Table == kt.name {
				last = r
			}
		}
		fmt.Fprintf(stdout, "| %s | %.2f | %.2f | %.2f | %.2f | %.2f / %.2f | %d | %d |\n", kt.name, m, m/base, mdb, mdb/baseDB,
			last.LegacyDB, last.NewDB, last.Checksums, last.Fetched)
	}
	fmt.Fprintf(stdout, "\ngoal: composite and UUID keys <= 1.5 × the integer key's time\n")
	return writeJSONResult(stdout, *outDir, "reconcile-keys", res.Time, res)
}

func loadKeyTables(ctx context.Context, myDSN, pgDSN string, rows int) error {
	const cols = `, status VARCHAR(10) NOT NULL, amount DECIMAL(12,2) NOT NULL, note VARCHAR(64), updated_at DATETIME(6) NOT NULL`
	const pgCols = `, status text NOT NULL, amount numeric(12,2) NOT NULL, note text, updated_at timestamptz NOT NULL`
	errs := make(chan error, 1)
	go func() {
		var stmts []string
		for _, kt := range keyTables {
			stmts = append(stmts, "CREATE TABLE public."+kt.name+" ("+kt.newKeyDDL+pgCols+")",
				fmt.Sprintf(`INSERT INTO public.%s SELECT %s, (ARRAY['NEW','PAID','SHIPPED'])[s %% 3 + 1], (s %% 100000) / 100.0,
					'note-' || md5(s::text), timestamptz '2024-01-01 00:00:00+00' + s * interval '1 second' FROM generate_series(1, %d) s`,
					kt.name, kt.newKey, rows))
			for i, n := range plantedRows(rows) {
				switch i % 3 {
				case 0:
					stmts = append(stmts, fmt.Sprintf("DELETE FROM public."+kt.name+" WHERE "+kt.newRow, n))
				case 2:
					stmts = append(stmts, fmt.Sprintf("UPDATE public."+kt.name+" SET amount = amount + 1 WHERE "+kt.newRow, n))
				}
			}
			stmts = append(stmts, "VACUUM ANALYZE public."+kt.name)
		}
		errs <- pgExec(ctx, pgDSN, stmts...)
	}()
	db, err := sql.Open("mysql", myDSN)
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	stmts := []string{"SET GLOBAL innodb_buffer_pool_size = " + benchBuffersBytes, "SET SESSION sql_log_bin = 0"}
	for _, kt := range keyTables {
		stmts = append(stmts, "CREATE TABLE ficus."+kt.name+" ("+kt.legacyKeyDDL+cols+")",
			fmt.Sprintf(`INSERT INTO ficus.%s SELECT %s, ELT(seq %% 3 + 1, 'NEW', 'PAID', 'SHIPPED'), (seq %% 100000) / 100,
				CONCAT('note-', MD5(seq)), TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq SECOND FROM seq_1_to_%d`, kt.name, kt.legacyKey, rows))
		for i, n := range plantedRows(rows) {
			if i%3 == 1 {
				stmts = append(stmts, fmt.Sprintf("DELETE FROM ficus."+kt.name+" WHERE "+kt.legacyRow, n))
			}
		}
		stmts = append(stmts, "ANALYZE TABLE ficus."+kt.name)
	}
	for _, q := range stmts {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("mariadb load: %w", err)
		}
	}
	if err := <-errs; err != nil {
		return fmt.Errorf("postgres load: %w", err)
	}
	return nil
}

// plantedRows are the 20 row numbers made different, spread over rows.
func plantedRows(rows int) []int {
	out := make([]int, 20)
	for i := range out {
		out[i] = 7 + i*(rows/20)
	}
	return out
}
