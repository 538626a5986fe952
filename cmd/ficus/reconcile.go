package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/ficus-migrate/ficus/internal/config"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
	"github.com/ficus-migrate/ficus/shadow/data/reconcile"
)

const reconcileHelp = `Usage: ficus reconcile [-c FILE] [--format text|json] [--rate-limit ROWS_PER_S]
                       [--resume | --fresh] [--output jsonl FILE] [--repair-sql FILE]
                       [--materialize SOURCE.table | --materialize DSN.table] NAME

Compares the two tables of compare_data NAME as they are now, inside both databases,
without copying them: each side checksums key ranges of canonical row values
(decimals, timestamps, JSON, enums normalised the same way on MariaDB/MySQL and
PostgreSQL), and only ranges whose checksums differ are split again, down to small
ranges compared row by row. Prints every differing key (missing in new, missing in
legacy, or the differing columns with both values) and what it cost.

With compare_data[].plugin set, the entry's plugin is started for the run and asked
about every key whose canonical values differ: it may call the rows equal after all,
or say why they differ (printed with the key). A plugin that does not serve row
comparison is an error.

compare_data[].where and min_age (with updated_at) leave rows out of the comparison;
compare_data[].throttle sizes ranges by query time and waits while a server is busy,
a replica lags or the pause file exists (logged, and shown in the progress lines);
--rate-limit caps the rows read per second from each database.

The run keeps its progress (ranges done, differences found) in the JetStream KV
bucket ficus_reconcile_<NAME> after every range, in the NATS of the config (nats.url,
else the embedded server of a running ficus). --resume continues a stopped run (even
one killed with kill -9) without checksumming its finished ranges again; --fresh
discards kept progress and starts over. With neither, a run refuses to start while
progress is kept, naming both flags. A finished run drops its progress. When NATS is
not reachable a plain run goes on without keeping progress (a warning says so), while
--resume and --fresh fail.

--output jsonl FILE writes every differing key as one JSON object per line: key, kind,
the legacy and new rows (column name to canonical value, legacy's after its rules;
null for a missing row) and the differing columns. --repair-sql FILE writes the
INSERT/UPDATE/DELETE statements, in the new database's dialect, that would make new
equal legacy for the differing keys; ficus never runs them. Rows that cannot be
written faithfully are listed in a comment at the end. When new is a query
(compare_data[].new.query) there is no table to write to: the file lists the
differing keys in comments and holds no statement. --materialize writes the same
rows as --output jsonl into a table (created when missing; this comparison's earlier
rows replaced): SOURCE is a capture source's name (its DSN is used, nothing secret on
the command line), else the text before the last '.' is a DSN (postgres://… for
PostgreSQL, otherwise a MySQL DSN).

Exit status: 0 when the tables are equal, 1 when they differ, 2 on any error.

Config keys read: compare_data[].*, capture.sources[].name/type/dsn, plugins[] (the
entry's plugin), log.*, nats.*
`

func reconcileCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("reconcile", reconcileHelp, stderr)
	path := configFlag(fs)
	format := fs.String("format", "text", "text or json")
	segments := fs.Int("segments", 32, "buckets a range is summed in (and a differing range split into)")
	leaf := fs.Int64("leaf-rows", 2000, "ranges with at most this many rows are compared row by row")
	parallel := fs.Int("parallel", 4, "ranges checksummed at once")
	rateLimit := fs.Float64("rate-limit", 0, "at most this many rows per second read from each database (0: no limit)")
	resume := fs.Bool("resume", false, "continue the kept progress of a stopped run")
	fresh := fs.Bool("fresh", false, "discard kept progress and start over")
	repairSQL := fs.String("repair-sql", "", "write the statements that would make new equal legacy to this file")
	materialize := fs.String("materialize", "", "SOURCE.table or DSN.table: keep every differing key with both rows in this table")
	fs.String("output", "", "jsonl FILE: write every differing key with both rows, one JSON object per line")
	args, _, outputFile, err := reconcileOutputFlag(args)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("reconcile: %w", err)}
	}
	// Flags may come before or after the name: ficus reconcile orders --format json.
	names, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *resume && *fresh {
		return &exitError{code: 2, err: fmt.Errorf("reconcile: --resume and --fresh exclude each other")}
	}
	var target *reconcile.MaterializeTarget
	if len(names) != 1 {
		return &exitError{code: 2, err: fmt.Errorf("reconcile: give exactly one compare_data name\n\n%s", reconcileHelp)}
	}
	name := names[0]
	if *format != "text" && *format != "json" {
		return &exitError{code: 2, err: fmt.Errorf("reconcile: --format must be text or json, got %q", *format)}
	}
	if *rateLimit < 0 {
		return &exitError{code: 2, err: fmt.Errorf("reconcile: --rate-limit must not be negative, got %g", *rateLimit)}
	}
	cfg, err := config.Load(*path, os.LookupEnv)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if _, _, err := reconcileEndpoints(cfg, name); err != nil {
		return &exitError{code: 2, err: fmt.Errorf("reconcile: %w", err)}
	}
	if *materialize != "" {
		if target, err = materializeTarget(cfg, *materialize); err != nil {
			return &exitError{code: 2, err: fmt.Errorf("reconcile: --materialize: %w", err)}
		}
	}
	// The plugin starts before the databases are touched: a plugin that
	// cannot judge rows fails the command at once.
	log, err := newLogger(string(cfg.Log.Format), string(cfg.Log.Level), stderr)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if _, neu, _ := reconcileEndpoints(cfg, name); *repairSQL != "" && neu.Table.IsQuery() {
		log.Warn("new is a query, not a table: --repair-sql lists the differing keys in comments and writes no statements",
			"component", "reconcile", "compare", name)
	}
	judge, stopPlugin, err := reconcileJudge(ctx, cfg, name, log)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("reconcile %s: %w", name, err)}
	}
	defer stopPlugin()
	keep, err := openReconcileKeep(ctx, cfg, name, *resume, *fresh, log)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("reconcile %s: %w", name, err)}
	}
	defer keep.close()
	res, err := reconcilePair(ctx, cfg, name, reconcile.Config{Segments: *segments, LeafRows: *leaf, Parallel: *parallel,
		Judge: judge, Progress: reconcileProgress(log, name), Throttle: reconcile.Throttle{RateLimit: *rateLimit}, Log: log,
		Checkpoint: keep.checkpoint(), Resume: keep.saved})
	switch {
	case errors.Is(err, reconcile.ErrOtherComparison):
		err = fmt.Errorf("%w: discard it with --fresh", err)
	case err != nil && keep.store != nil:
		err = fmt.Errorf("%w (the progress so far is kept: --resume continues it)", err)
	}
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("reconcile %s: %w", name, err)}
	}
	if err := reconcileFiles(ctx, cfg, name, res, outputFile, *repairSQL, target); err != nil {
		return &exitError{code: 2, err: fmt.Errorf("reconcile %s: %w", name, err)}
	}
	keep.done(log)
	if *format == "json" {
		err = res.JSON(stdout, name)
	} else {
		err = res.Text(stdout, name)
	}
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if len(res.Differences) > 0 {
		// The differences themselves are on stdout; stderr says why the exit status is 1.
		return &exitError{code: 1, err: fmt.Errorf("reconcile %s: the tables differ in %d key(s)", name, len(res.Differences))}
	}
	return nil
}

// reconcileFiles writes --output jsonl FILE, --repair-sql FILE and --materialize.
func reconcileFiles(ctx context.Context, cfg *config.Config, name string, res *reconcile.Result, jsonl, repair string,
	target *reconcile.MaterializeTarget) error {
	legacy, neu, err := reconcileEndpoints(cfg, name)
	if err != nil {
		return err
	}
	if jsonl != "" {
		err := writeFileAtomically(jsonl, func(w io.Writer) error { return res.JSONL(w, legacy.Table.Columns, neu.Table.Columns) })
		if err != nil {
			return fmt.Errorf("--output jsonl: %w", err)
		}
	}
	if repair != "" {
		err := writeFileAtomically(repair, func(w io.Writer) error {
			return res.RepairSQL(w, name, canon.Engine(neu.Engine), neu.Table)
		})
		if err != nil {
			return fmt.Errorf("--repair-sql: %w", err)
		}
	}
	if target != nil {
		if err := res.Materialize(ctx, *target, name, legacy.Table.Columns, neu.Table.Columns); err != nil {
			return fmt.Errorf("--materialize: %w", err)
		}
	}
	return nil
}

// materializeTarget reads --materialize SOURCE.table or DSN.table: the
// table is after the last '.'.
func materializeTarget(cfg *config.Config, arg string) (*reconcile.MaterializeTarget, error) {
	i := strings.LastIndexByte(arg, '.')
	if i <= 0 || i == len(arg)-1 {
		return nil, errors.New("want SOURCE.table or DSN.table")
	}
	where, table := arg[:i], arg[i+1:]
	for _, s := range cfg.Capture.Sources {
		if s.Name == where {
			return &reconcile.MaterializeTarget{Engine: canon.Engine(s.Type), DSN: s.DSN.Reveal(), Table: table}, nil
		}
	}
	e := canon.MySQL
	if strings.HasPrefix(where, "postgres://") || strings.HasPrefix(where, "postgresql://") {
		e = canon.Postgres
	}
	return &reconcile.MaterializeTarget{Engine: e, DSN: where, Table: table}, nil
}

// reconcilePair runs one reconcile of compare_data NAME with the entry's
// window and throttle; run holds what the caller decides (segments, leaf
// rows, parallel, judge, rate limit, progress, log). `ficus reconcile` and
// complete_when share it.
func reconcilePair(ctx context.Context, cfg *config.Config, name string, run reconcile.Config) (*reconcile.Result, error) {
	legacy, neu, err := reconcileEndpoints(cfg, name)
	if err != nil {
		return nil, err
	}
	_, cd, _ := compareData(cfg, name) // found by reconcileEndpoints
	l, n, closeSides, err := reconcile.Open(ctx, legacy, neu, max(run.Parallel, 1))
	if err != nil {
		return nil, err
	}
	defer closeSides()
	rate := run.Throttle.RateLimit
	run.Throttle = reconcileThrottle(cd.Throttle)
	run.Throttle.RateLimit = rate
	run.Legacy, run.New, run.Name = l, n, name
	return reconcile.Run(ctx, run)
}

// reconcileProgress logs a run's progress: rows, rate, ETA, and why it
// pauses when it does.
func reconcileProgress(log *slog.Logger, name string) func(reconcile.Progress) {
	return func(p reconcile.Progress) {
		elapsed := p.Elapsed.Round(100 * time.Millisecond).String()
		if p.Phase == reconcile.PhaseEstimating {
			// No pass yet: its counts would read "pass 0 of 0 ranges".
			log.Info("reconcile progress: estimating…", "compare", name, "elapsed", elapsed)
			return
		}
		attrs := []any{"compare", name, "pass", p.Pass, "ranges_done", p.RangesDone,
			"ranges", p.RangesTotal, "rows_checksummed", p.Rows, "rows_estimated", p.EstimatedRows,
			"rows_per_s", int64(p.RowsPerSecond), "eta", p.ETA.Round(time.Second).String(),
			"differences", p.Differences, "elapsed", elapsed}
		if p.Paused != "" {
			attrs = append(attrs, "paused", p.Paused)
		}
		log.Info("reconcile progress", attrs...)
	}
}

// reconcileJudge starts the plugin of compare_data NAME, if it names one,
// with the code ficus run uses, and returns its Judge and how to stop it.
func reconcileJudge(ctx context.Context, cfg *config.Config, name string, log *slog.Logger) (canon.Judge, func(), error) {
	i, cd, err := compareData(cfg, name)
	if err != nil || cd.Plugin == "" {
		return nil, func() {}, err
	}
	set, err := launchPlugins(ctx, cfg.Plugins, []string{cd.Plugin}, log, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("plugins: %w", err)
	}
	judge, err := set.judge(ctx, i, cd)
	if err != nil {
		set.close()
		return nil, nil, err
	}
	return judge, set.close, nil
}

// compareData finds compare_data NAME and its index.
func compareData(cfg *config.Config, name string) (int, *config.CompareData, error) {
	var names []string
	for i := range cfg.CompareData {
		if cfg.CompareData[i].Name == name {
			return i, &cfg.CompareData[i], nil
		}
		names = append(names, cfg.CompareData[i].Name)
	}
	return 0, nil, fmt.Errorf("no compare_data named %q (configured: %v)", name, names)
}

// reconcileEndpoints turns compare_data NAME into the two sides' endpoints.
func reconcileEndpoints(cfg *config.Config, name string) (reconcile.Endpoint, reconcile.Endpoint, error) {
	_, cd, err := compareData(cfg, name)
	if err != nil {
		return reconcile.Endpoint{}, reconcile.Endpoint{}, err
	}
	lt, nt := dataTables(cd)
	le, err := endpoint(cfg, cd.Legacy, lt)
	if err != nil {
		return le, le, err
	}
	ne, err := endpoint(cfg, cd.New, nt)
	return le, ne, err
}

// reconcileThrottle is compare_data[].throttle in reconcile's terms.
func reconcileThrottle(t config.DataThrottle) reconcile.Throttle {
	return reconcile.Throttle{
		MaxQuery:          time.Duration(t.MaxQuerySeconds * float64(time.Second)),
		MaxThreadsRunning: t.MaxThreadsRunning,
		MaxReplicaLag:     t.MaxReplicaLag,
		PauseFile:         t.PauseFile,
	}
}

// dataTables are the two tables of a comparison in reconcile's terms.
func dataTables(cd *config.CompareData) (legacy, new reconcile.Table) {
	legacy = reconcile.Table{Name: cd.Legacy.Table, Key: cd.Legacy.Key[0],
		Where: cd.Where.Legacy, UpdatedAt: cd.UpdatedAt.Legacy, MinAge: cd.MinAge}
	new = reconcile.Table{Name: cd.New.Table, Key: cd.New.Key[0],
		Where: cd.Where.New, UpdatedAt: cd.UpdatedAt.New, MinAge: cd.MinAge}
	if cd.Legacy.Query != "" {
		legacy.Name, legacy.Query = "legacy query", cd.Legacy.Query
	}
	if cd.New.Query != "" {
		new.Name, new.Query = "new query", cd.New.Query
	}
	if len(cd.Legacy.Key) > 1 {
		legacy.KeyColumns, new.KeyColumns = cd.Legacy.Key, cd.New.Key
	}
	rules := map[string]canon.Rule{}
	for _, r := range cd.Rules {
		rules[r.Column] = canon.Rule{Scale: r.Scale, Map: r.Map}
	}
	for _, p := range cd.Columns {
		legacy.Columns = append(legacy.Columns, p.Legacy)
		legacy.Rules = append(legacy.Rules, rules[p.Legacy])
		new.Columns = append(new.Columns, p.New)
	}
	return legacy, new
}

func endpoint(cfg *config.Config, side config.DataSide, t reconcile.Table) (reconcile.Endpoint, error) {
	for _, s := range cfg.Capture.Sources {
		if s.Name == side.Source {
			return reconcile.Endpoint{Engine: string(s.Type), DSN: s.DSN.Reveal(), Table: t}, nil
		}
	}
	return reconcile.Endpoint{}, fmt.Errorf("no capture source named %q", side.Source)
}
