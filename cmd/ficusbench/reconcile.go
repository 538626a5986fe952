package main

import (
	"bytes"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"time"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
	"github.com/ficus-migrate/ficus/shadow/data/reconcile"
)

// The reconcile benchmark: ficus's checksum-and-bisect reconcile of two
// equal 1M-row tables (MariaDB legacy, PostgreSQL new, renamed columns,
// cents, mapped status) against a naive comparison that reads both tables
// in key order and compares every row in Go, in the same run.

const reconcileLegacyDDL = `CREATE TABLE ficus.orders (id BIGINT PRIMARY KEY,
	status ENUM('NEW','PAID','SHIPPED') NOT NULL, amount DECIMAL(12,2) NOT NULL,
	customer_id INT, note VARCHAR(64), updated_at DATETIME(6) NOT NULL)`

const reconcileLegacyLoad = `INSERT INTO ficus.orders SELECT seq, ELT(seq %% 3 + 1, 'NEW', 'PAID', 'SHIPPED'),
	(seq %% 100000) / 100, seq %% 5000, CONCAT('note-', MD5(seq)),
	TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq SECOND FROM seq_1_to_%d`

const reconcileNewDDL = `CREATE TABLE public.orders (legacy_id bigint PRIMARY KEY, state text NOT NULL,
	total bigint NOT NULL, customer_ref int, note text, updated_at timestamptz NOT NULL)`

const reconcileNewLoad = `INSERT INTO public.orders SELECT s, (ARRAY['created','paid','SHIPPED'])[s %% 3 + 1],
	s %% 100000, s %% 5000, 'note-' || md5(s::text), timestamptz '2024-01-01 00:00:00+00' + s * interval '1 second'
	FROM generate_series(1, %d) s`

var (
	benchLegacy = reconcile.Table{Name: "ficus.orders", Key: "id",
		Columns: []string{"status", "amount", "customer_id", "note", "updated_at"},
		Rules:   []canon.Rule{{Map: map[string]string{"NEW": "created", "PAID": "paid"}}, {Scale: "100"}, {}, {}, {}}}
	benchNew = reconcile.Table{Name: "public.orders", Key: "legacy_id",
		Columns: []string{"state", "total", "customer_ref", "note", "updated_at"}}
	// benchKinds is how the naive reader canonicalises each column pair.
	benchKinds = []canon.Kind{canon.KindText, canon.KindDecimal, canon.KindInteger, canon.KindText, canon.KindTimestamp}
)

// benchBuffers is each database's buffer pool in the benchmark: enough
// for both tables of 1M rows and their indexes.
const (
	benchBuffers      = "512MB"
	benchBuffersBytes = "536870912"
)

type reconcileRow struct {
	Name         string  `json:"name"`
	WallSeconds  float64 `json:"wall_seconds"`
	LegacyDBSecs float64 `json:"legacy_db_seconds"`
	NewDBSecs    float64 `json:"new_db_seconds"`
	// LegacyCPU and NewCPU are the database servers' own CPU time during
	// the run (mariadbd; the postmaster and its backends), from /proc.
	LegacyCPU   float64 `json:"legacy_server_cpu_seconds"`
	NewCPU      float64 `json:"new_server_cpu_seconds"`
	Differences int     `json:"differences"`
	Rows        int64   `json:"rows_compared"`
}

type reconcileResult struct {
	Time      time.Time      `json:"time"`
	GoVersion string         `json:"go_version"`
	CPUs      int            `json:"cpus"`
	Rows      int            `json:"rows"`
	Runs      []reconcileRow `json:"runs"`
	// Ratio is the naive comparison's median wall time over reconcile's.
	Ratio    float64 `json:"ratio_wall"`
	DBRatio  float64 `json:"ratio_db_time"`
	CPURatio float64 `json:"ratio_server_cpu"`
}

func reconcileBenchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rows := fs.Int("rows", 1_000_000, "rows per side")
	rounds := fs.Int("rounds", 2, "measurements of each method, alternating")
	parallel := fs.Int("parallel", 2, "reconcile: ranges checksummed at once (2 suits a 2-core machine)")
	outDir := fs.String("out", "bench-results", "directory for the JSON result")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, log, done := benchRun(ctx, stderr, "reconcile", 20*time.Minute)
	defer done()
	// Both databases get buffers that hold the table, as a production
	// database sized for its data would; both methods then read from memory.
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
	log.Info("loading", "rows", *rows)
	if err := loadReconcileTables(ctx, maria.DSN(), pg.DSN(), *rows); err != nil {
		return err
	}
	legacy := reconcile.Endpoint{Engine: "mysql", DSN: maria.DSN(), Table: benchLegacy}
	neu := reconcile.Endpoint{Engine: "postgres", DSN: pg.DSN(), Table: benchNew}
	res := reconcileResult{Time: time.Now().UTC(), GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), Rows: *rows}
	measured := func(run func() (reconcileRow, error)) error {
		l0, n0 := serverCPU(maria.PID()), serverCPU(pg.PID())
		r, err := run()
		if err != nil {
			return err
		}
		time.Sleep(300 * time.Millisecond) // let the postmaster reap the closed backends
		r.LegacyCPU, r.NewCPU = (serverCPU(maria.PID()) - l0).Seconds(), (serverCPU(pg.PID()) - n0).Seconds()
		res.Runs = append(res.Runs, r)
		return nil
	}
	for i := range *rounds {
		log.Info("reconcile", "round", i+1)
		if err := measured(func() (reconcileRow, error) { return runReconcile(ctx, legacy, neu, *parallel) }); err != nil {
			return err
		}
		log.Info("naive read-and-compare", "round", i+1)
		if err := measured(func() (reconcileRow, error) { return runNaive(ctx, maria.DSN(), pg.DSN()) }); err != nil {
			return err
		}
	}
	res.Ratio = median(res.Runs, "naive", wall) / median(res.Runs, "reconcile", wall)
	res.DBRatio = median(res.Runs, "naive", dbTime) / median(res.Runs, "reconcile", dbTime)
	res.CPURatio = median(res.Runs, "naive", serverCPUOf) / median(res.Runs, "reconcile", serverCPUOf)
	fmt.Fprintf(stdout, "\n%d equal rows per side (MariaDB legacy, PostgreSQL new), %d CPUs\n\n", *rows, res.CPUs)
	fmt.Fprintf(stdout, "| run | wall s | legacy query s | new query s | mariadbd CPU s | postgres CPU s | rows | differences |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range res.Runs {
		fmt.Fprintf(stdout, "| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %d | %d |\n", r.Name, r.WallSeconds, r.LegacyDBSecs, r.NewDBSecs,
			r.LegacyCPU, r.NewCPU, r.Rows, r.Differences)
	}
	fmt.Fprintf(stdout, "\nratio naive / reconcile (medians): wall %.2f, query time %.2f, database server CPU %.2f (goal >= 5)\n",
		res.Ratio, res.DBRatio, res.CPURatio)
	return writeJSONResult(stdout, *outDir, "reconcile", res.Time, res)
}

func wall(r reconcileRow) float64        { return r.WallSeconds }
func serverCPUOf(r reconcileRow) float64 { return r.LegacyCPU + r.NewCPU }
func dbTime(r reconcileRow) float64      { return r.LegacyDBSecs + r.NewDBSecs }

func median(runs []reconcileRow, name string, f func(reconcileRow) float64) float64 {
	var v []float64
	for _, r := range runs {
		if r.Name == name {
			v = append(v, f(r))
		}
	}
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func loadReconcileTables(ctx context.Context, myDSN, pgDSN string, rows int) error {
	errs := make(chan error, 1)
	go func() {
		// VACUUM sets the hint bits and visibility map a live table has, so
		// the first scan does not pay for writing them.
		errs <- pgExec(ctx, pgDSN, reconcileNewDDL, fmt.Sprintf(reconcileNewLoad, rows), "VACUUM ANALYZE public.orders",
			"CREATE EXTENSION IF NOT EXISTS pg_prewarm", "SELECT pg_prewarm('public.orders'), pg_prewarm('public.orders_pkey')")
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
	for _, q := range []string{"SET GLOBAL innodb_buffer_pool_size = " + benchBuffersBytes, "SET SESSION sql_log_bin = 0",
		reconcileLegacyDDL, fmt.Sprintf(reconcileLegacyLoad, rows), "ANALYZE TABLE ficus.orders"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("mariadb load: %w", err)
		}
	}
	if err := <-errs; err != nil {
		return fmt.Errorf("postgres load: %w", err)
	}
	return nil
}

func runReconcile(ctx context.Context, legacy, neu reconcile.Endpoint, parallel int) (reconcileRow, error) {
	l, n, closeSides, err := reconcile.Open(ctx, legacy, neu, parallel)
	if err != nil {
		return reconcileRow{}, err
	}
	defer closeSides()
	res, err := reconcile.Run(ctx, reconcile.Config{Legacy: l, New: n, Parallel: parallel})
	if err != nil {
		return reconcileRow{}, err
	}
	st := res.Stats
	return reconcileRow{Name: "reconcile", WallSeconds: st.Wall.Seconds(), LegacyDBSecs: st.LegacyDBTime.Seconds(),
		NewDBSecs: st.NewDBTime.Seconds(), Differences: len(res.Differences), Rows: st.LegacyRows}, nil
}

// serverCPU is the CPU a database server used so far: the process, its
// live children, and its reaped children (PostgreSQL's backends exit with
// their connection; the postmaster's cutime/cstime then holds them).
func serverCPU(pid int) time.Duration {
	total, err := treeCPU(pid)
	if err != nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return total
	}
	if i := bytes.LastIndexByte(b, ')'); i >= 0 {
		f := bytes.Fields(b[i+1:])
		if len(f) > 14 { // cutime and cstime are fields 16 and 17
			cu, _ := strconv.ParseInt(string(f[13]), 10, 64)
			cs, _ := strconv.ParseInt(string(f[14]), 10, 64)
			total += time.Duration(cu+cs) * clockTick
		}
	}
	return total
}
