package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"
)

// mysqlResult is the JSON written to bench-results/.
type mysqlResult struct {
	Time          time.Time `json:"time"`
	GoVersion     string    `json:"go_version"`
	CPUs          int       `json:"cpus"`
	Server        string    `json:"server"`
	Rows          int       `json:"rows"`
	Batch         int       `json:"rows_per_transaction"`
	LoadSeconds   float64   `json:"load_seconds"`
	Binlog        binlogEnd `json:"binlog"`
	AvgEventBytes float64   `json:"avg_event_bytes"` // body + headers, from a sample of ficus's events
	// BinlogDecoded is (a), used in the ratio; BinlogRaw is the bare transfer.
	BinlogDecoded binlogRead        `json:"a_mariadb_binlog_decoded"`
	BinlogRaw     binlogRead        `json:"a_mariadb_binlog_raw"`
	Modes         []mysqlModeResult `json:"modes"`
}

type mysqlModeResult struct {
	Sync           string  `json:"sync"`
	ConfirmDelay   string  `json:"confirm_delay"`
	Sink           rate    `json:"b_jetstream_publish"`
	FicusInStream  rate    `json:"c_ficus_all_in_stream"`
	FicusCheckpt   rate    `json:"c_ficus_checkpointed"`
	Ratio          float64 `json:"ratio"`           // c (checkpointed) / min(a, b): the definition
	RatioInStream  float64 `json:"ratio_in_stream"` // c (in stream) / min(a, b)
	SinkCPUMicros  float64 `json:"b_cpu_us_per_event"`
	FicusCPUMicros float64 `json:"c_cpu_us_per_event"`
	FinalPosition  string  `json:"c_final_checkpoint"`
}

func mysqlCaptureCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ficusbench mysqlcapture", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rows := fs.Int("rows", 1_000_000, "rows written before the drains")
	batch := fs.Int("batch", 250_000, "rows per loading transaction")
	syncs := fs.String("sync", "1s", "JetStream sync settings to measure (b) and (c) with, comma separated: always or an interval "+
		"(2m, ficus's default, adds a fixed 2m1s wait before the checkpoint)")
	ficusBin := fs.String("ficus", "", "ficus binary (default: build ./cmd/ficus into the work dir)")
	outDir := fs.String("out", "bench-results", "directory for the JSON result")
	profile := fs.String("cpuprofile", "", "write ficus CPU profiles to PREFIX-<sync>.pprof")
	keep := fs.Bool("keep", false, "keep the work dir (logs, configs)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	modes, err := parseModes(*syncs)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(len(modes))*4*time.Minute+3*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("component", "ficusbench.mysqlcapture")

	dir, err := os.MkdirTemp("", "ficusbench-mysql-")
	if err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	if *keep {
		log.Info("work dir kept", "dir", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	bin := *ficusBin
	if bin == "" {
		bin = filepath.Join(dir, "ficus")
		log.Info("building ficus")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/ficus").CombinedOutput(); err != nil {
			return fmt.Errorf("build ficus (run from the repository root): %w: %s", err, out)
		}
	}

	maria, err := startMariaDB(ctx, log)
	if err != nil {
		return err
	}
	defer closeLogged(log, "mariadb", maria)
	db, err := sql.Open("mysql", maria.DSN())
	if err != nil {
		return fmt.Errorf("open mariadb: %w", err)
	}
	defer db.Close()
	res := mysqlResult{Time: time.Now().UTC(), GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), Rows: *rows, Batch: *batch}
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&res.Server); err != nil {
		return fmt.Errorf("server version: %w", err)
	}
	if _, err := db.ExecContext(ctx, mysqlOrdersDDL); err != nil {
		return fmt.Errorf("create table: %w", err)
	}
	// Every mode's ficus saves its start position before any row exists.
	for _, m := range modes {
		pos, err := seedMySQLFicus(ctx, bin, dir, maria.DSN(), m)
		if err != nil {
			return fmt.Errorf("seed ficus checkpoint (sync %s): %w", m.Name, err)
		}
		log.Info("ficus checkpoint seeded", "sync", m.Name, "position", pos.String())
	}
	log.Info("loading rows", "rows", *rows, "batch", *batch)
	took, err := loadMySQLRows(ctx, db, *rows, *batch)
	if err != nil {
		return err
	}
	res.LoadSeconds = took.Seconds()
	if res.Binlog, err = readBinlogEnd(ctx, db); err != nil {
		return err
	}
	log.Info("loaded", "seconds", took.Seconds(), "binlog_end", res.Binlog.File, "pos", res.Binlog.Pos, "binlog_bytes", res.Binlog.Bytes)

	log.Info("(a) mariadb-binlog, rows decoded")
	if res.BinlogDecoded, err = runMariaDBBinlog(ctx, maria, res.Binlog.First, *rows, true, filepath.Join(dir, "binlog-decoded.sql")); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(dir, "binlog-decoded.sql"))
	if res.BinlogDecoded.RowsSeen != *rows {
		return fmt.Errorf("mariadb-binlog decoded %d rows, want %d", res.BinlogDecoded.RowsSeen, *rows)
	}
	log.Info("(a) mariadb-binlog, raw")
	if res.BinlogRaw, err = runMariaDBBinlog(ctx, maria, res.Binlog.First, *rows, false, filepath.Join(dir, "binlog-raw")); err != nil {
		return err
	}
	_ = os.RemoveAll(filepath.Join(dir, "binlog-raw"))

	// The first drain also yields the event sample (b) replays, so the sink
	// publishes ficus's real sizes and headers.
	var samples []sample
	drains := make([]*mysqlDrain, len(modes))
	drain := func(i int) error {
		m := modes[i]
		log.Info("(c) ficus capture", "sync", m.Name, "confirm_delay", m.confirmDelay())
		prof := ""
		if *profile != "" {
			prof = *profile + "-mysql-" + m.slotSuffix() + ".pprof"
		}
		d, err := drainMySQL(ctx, bin, dir, maria.DSN(), m, uint64(*rows), res.Binlog, prof)
		if err != nil {
			return fmt.Errorf("ficus with sync %s: %w", m.Name, err)
		}
		if samples == nil {
			var avg float64
			samples, avg, err = sampleEvents(ctx, d.f.js, "FICUS_CDC_BENCH", uint64(*rows), 2000)
			if err != nil {
				return errors.Join(err, d.f.stop())
			}
			res.AvgEventBytes = avg
		}
		drains[i] = d
		if err := d.f.stop(); err != nil {
			log.Warn("ficus exit", "err", err)
		}
		log.Info("(c) done", "sync", m.Name, "in_stream_s", d.StreamFull.Seconds(), "checkpointed_s", d.Checkpointed.Seconds())
		return nil
	}
	if err := drain(0); err != nil {
		return err
	}
	sinkTook := make([]time.Duration, len(modes))
	sinkCPU := make([]time.Duration, len(modes))
	for i, m := range modes {
		log.Info("(b) JetStream publish", "sync", m.Name, "avg_event_bytes", int(res.AvgEventBytes))
		if sinkTook[i], sinkCPU[i], err = runSinkOnly(ctx, dir, m, samples, *rows); err != nil {
			return fmt.Errorf("sink benchmark with sync %s: %w", m.Name, err)
		}
	}
	for i := 1; i < len(modes); i++ {
		if err := drain(i); err != nil {
			return err
		}
	}
	for i, m := range modes {
		d := drains[i]
		mr := mysqlModeResult{Sync: m.Name, ConfirmDelay: m.confirmDelay().String(),
			Sink: newRate(*rows, sinkTook[i]), FicusInStream: newRate(*rows, d.StreamFull),
			FicusCheckpt:   newRate(*rows, d.Checkpointed),
			SinkCPUMicros:  float64(sinkCPU[i].Microseconds()) / float64(*rows),
			FicusCPUMicros: float64(d.CPU.Microseconds()) / float64(*rows),
			FinalPosition:  d.Final.String()}
		limit := min(res.BinlogDecoded.RowsPerSec, mr.Sink.RowsPerSec)
		mr.Ratio = mr.FicusCheckpt.RowsPerSec / limit
		mr.RatioInStream = mr.FicusInStream.RowsPerSec / limit
		res.Modes = append(res.Modes, mr)
	}
	printMySQLResult(stdout, res)
	return writeJSONResult(stdout, *outDir, "mysqlcapture", res.Time, res)
}

func printMySQLResult(w io.Writer, r mysqlResult) {
	fmt.Fprintf(w, "\nMySQL/MariaDB capture (%s): %d rows in %d-row transactions, binlog %d MB, avg event %.0f B, %d CPUs, %s\n",
		r.Server, r.Rows, r.Batch, r.Binlog.Bytes>>20, r.AvgEventBytes, r.CPUs, r.GoVersion)
	fmt.Fprintf(w, "%-52s %12s %9s\n", "", "rows/s", "seconds")
	line := func(name string, x rate) { fmt.Fprintf(w, "%-52s %12.0f %9.2f\n", name, x.RowsPerSec, x.Seconds) }
	line("(a) mariadb-binlog remote read, rows decoded", rate{Seconds: r.BinlogDecoded.Seconds, RowsPerSec: r.BinlogDecoded.RowsPerSec})
	line("    mariadb-binlog remote read, --raw (not in ratio)", rate{Seconds: r.BinlogRaw.Seconds, RowsPerSec: r.BinlogRaw.RowsPerSec})
	fmt.Fprintf(w, "    (a) flags: %s\n", r.BinlogDecoded.Flags)
	for _, m := range r.Modes {
		fmt.Fprintf(w, "sync_interval %s (confirm delay %s)\n", m.Sync, m.ConfirmDelay)
		line("  (b) JetStream async publish, file stream", m.Sink)
		line("  (c) ficus: all events in the stream", m.FicusInStream)
		line("  (c) ficus: acked and checkpoint saved", m.FicusCheckpt)
		fmt.Fprintf(w, "  CPU per event (NATS server included): (b) %.1f us, (c) ficus %.1f us\n", m.SinkCPUMicros, m.FicusCPUMicros)
		fmt.Fprintf(w, "  ratio = c / min(a, b): checkpointed %.2f, in stream %.2f\n", m.Ratio, m.RatioInStream)
	}
}
