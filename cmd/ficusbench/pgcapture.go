package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgResult is the JSON written to bench-results/.
type pgResult struct {
	Time          time.Time    `json:"time"`
	GoVersion     string       `json:"go_version"`
	CPUs          int          `json:"cpus"`
	Rows          int          `json:"rows"`
	Batch         int          `json:"rows_per_transaction"`
	LoadSeconds   float64      `json:"load_seconds"`
	AvgEventBytes float64      `json:"avg_event_bytes"` // body + headers, from a sample of ficus's events
	RecvLogical   rate         `json:"a_pg_recvlogical"`
	Modes         []modeResult `json:"modes"`
}

type rate struct {
	Seconds    float64 `json:"seconds"`
	RowsPerSec float64 `json:"rows_per_sec"`
}

func newRate(n int, d time.Duration) rate {
	return rate{Seconds: d.Seconds(), RowsPerSec: float64(n) / d.Seconds()}
}

type modeResult struct {
	Sync         string `json:"sync"`
	ConfirmDelay string `json:"confirm_delay"`
	// Rows is what (b) and (c) moved in this mode: with sync always, a slow
	// fsync per message would blow the time budget, so only a prefix is used.
	Rows       int  `json:"rows"`
	Sink       rate `json:"b_jetstream_publish"`
	FicusAcked rate `json:"c_ficus_all_in_stream"`
	// FicusConfirm is nil for a partial drain: the slot can only confirm
	// whole transactions.
	FicusConfirm *rate   `json:"c_ficus_confirmed,omitempty"`
	Ratio        float64 `json:"ratio,omitempty"` // c (confirmed) / min(a, b): the definition
	RatioAcked   float64 `json:"ratio_in_stream"` // c (in stream) / min(a, b)
	// CPU per event, NATS server included on both sides: steadier than the
	// rates on a shared machine.
	SinkCPUMicros  float64 `json:"b_cpu_us_per_event"`
	FicusCPUMicros float64 `json:"c_cpu_us_per_event"`
}

func pgCaptureCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ficusbench pgcapture", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rows := fs.Int("rows", 1_000_000, "rows written before the drains")
	batch := fs.Int("batch", 250_000, "rows per loading transaction")
	syncs := fs.String("sync", "2m,1s,always", "JetStream sync settings to measure (b) and (c) with, comma separated: always or an interval")
	alwaysRows := fs.Int("always-rows", 50_000, "with sync always, (b) and (c) move only this many rows (0: all)")
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
	// Bounded: the interval mode alone waits out its confirm delay (2m1s).
	ctx, cancel := context.WithTimeout(ctx, 12*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("component", "ficusbench.pgcapture")

	dir, err := os.MkdirTemp("", "ficusbench-pg-")
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

	pg, err := startPostgres(ctx, log)
	if err != nil {
		return err
	}
	defer closeLogged(log, "postgres", pg)
	conn, err := pgx.Connect(ctx, pg.DSN())
	if err != nil {
		return fmt.Errorf("connect postgres: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	const publication = "bench_pub"
	slots := []string{"slot_a"}
	for _, m := range modes {
		slots = append(slots, "slot_c_"+m.slotSuffix())
	}
	if err := prepareDatabase(ctx, conn, publication, slots); err != nil {
		return err
	}
	log.Info("loading rows", "rows", *rows, "batch", *batch)
	loadTook, err := loadRows(ctx, conn, *rows, *batch)
	if err != nil {
		return err
	}
	endLSN, err := currentLSN(ctx, conn)
	if err != nil {
		return err
	}
	res := pgResult{Time: time.Now().UTC(), GoVersion: runtime.Version(), CPUs: runtime.NumCPU(),
		Rows: *rows, Batch: *batch, LoadSeconds: loadTook.Seconds()}

	log.Info("(a) pg_recvlogical", "end_lsn", endLSN)
	took, size, err := runRecvLogical(ctx, pg, "slot_a", publication, endLSN, filepath.Join(dir, "recvlogical.out"))
	if err != nil {
		return err
	}
	res.RecvLogical = newRate(*rows, took)
	log.Info("(a) done", "seconds", took.Seconds(), "output_bytes", size)

	// The first ficus drain also yields the event sample the sink benchmark
	// replays, so (b) publishes ficus's real sizes and headers.
	var samples []sample
	ficusRates := make([]*ficusRun, len(modes))
	rowsFor := func(m syncMode) int {
		if m.Always && *alwaysRows > 0 {
			return min(*alwaysRows, *rows)
		}
		return *rows
	}
	drain := func(i int) error {
		m := modes[i]
		log.Info("(c) ficus capture", "sync", m.Name, "confirm_delay", m.confirmDelay())
		prof := ""
		if *profile != "" {
			prof = *profile + "-" + m.slotSuffix() + ".pprof"
		}
		n := rowsFor(m)
		r, err := runFicus(ctx, bin, dir, pg, "slot_c_"+m.slotSuffix(), publication, m, uint64(n), n == *rows, prof)
		if err != nil {
			return fmt.Errorf("ficus with sync %s: %w", m.Name, err)
		}
		if samples == nil {
			var avg float64
			samples, avg, err = sampleEvents(ctx, r.js, "FICUS_CDC_BENCH", uint64(n), 2000)
			if err != nil {
				return errors.Join(err, r.stop())
			}
			res.AvgEventBytes = avg
		}
		ficusRates[i] = r
		if err := r.stop(); err != nil {
			log.Warn("ficus exit", "err", err)
		}
		log.Info("(c) done", "sync", m.Name, "in_stream_s", r.StreamFull.Seconds(), "confirmed_s", r.Confirmed.Seconds())
		return nil
	}
	if err := drain(0); err != nil {
		return err
	}
	sinkRates := make([]time.Duration, len(modes))
	sinkCPU := make([]time.Duration, len(modes))
	for i, m := range modes {
		log.Info("(b) JetStream publish", "sync", m.Name, "avg_event_bytes", int(res.AvgEventBytes))
		if sinkRates[i], sinkCPU[i], err = runSinkOnly(ctx, dir, m, samples, rowsFor(m)); err != nil {
			return fmt.Errorf("sink benchmark with sync %s: %w", m.Name, err)
		}
	}
	for i := 1; i < len(modes); i++ {
		if err := drain(i); err != nil {
			return err
		}
	}
	for i, m := range modes {
		n := rowsFor(m)
		mr := modeResult{Sync: m.Name, ConfirmDelay: m.confirmDelay().String(), Rows: n,
			Sink:       newRate(n, sinkRates[i]),
			FicusAcked: newRate(n, ficusRates[i].StreamFull)}
		mr.SinkCPUMicros = float64(sinkCPU[i].Microseconds()) / float64(n)
		mr.FicusCPUMicros = float64(ficusRates[i].CPU.Microseconds()) / float64(n)
		limit := min(res.RecvLogical.RowsPerSec, mr.Sink.RowsPerSec)
		mr.RatioAcked = mr.FicusAcked.RowsPerSec / limit
		if ficusRates[i].Confirmed > 0 {
			c := newRate(n, ficusRates[i].Confirmed)
			mr.FicusConfirm = &c
			mr.Ratio = c.RowsPerSec / limit
		}
		res.Modes = append(res.Modes, mr)
	}
	printResult(stdout, res)
	return writeResult(stdout, *outDir, res)
}

func (m syncMode) slotSuffix() string {
	return strings.NewReplacer(".", "_", "-", "_").Replace(m.Name)
}

func parseModes(s string) ([]syncMode, error) {
	var out []syncMode
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "always" {
			out = append(out, syncMode{Name: f, Always: true})
			continue
		}
		d, err := time.ParseDuration(f)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("-sync %q: want always or a positive duration", f)
		}
		out = append(out, syncMode{Name: f, Interval: d})
	}
	if len(out) == 0 {
		return nil, errors.New("-sync: no mode given")
	}
	return out, nil
}

func printResult(w io.Writer, r pgResult) {
	fmt.Fprintf(w, "\nPostgreSQL capture: %d rows in %d-row transactions, avg event %.0f B, %d CPUs, %s\n",
		r.Rows, r.Batch, r.AvgEventBytes, r.CPUs, r.GoVersion)
	fmt.Fprintf(w, "%-44s %12s %9s\n", "", "rows/s", "seconds")
	line := func(name string, x rate) { fmt.Fprintf(w, "%-44s %12.0f %9.2f\n", name, x.RowsPerSec, x.Seconds) }
	line("(a) pg_recvlogical, pgoutput, to a file", r.RecvLogical)
	for _, m := range r.Modes {
		fmt.Fprintf(w, "sync_interval %s (confirm delay %s), %d rows\n", m.Sync, m.ConfirmDelay, m.Rows)
		line("  (b) JetStream async publish, file stream", m.Sink)
		line("  (c) ficus: all events in the stream", m.FicusAcked)
		fmt.Fprintf(w, "  CPU per event (NATS server included): (b) %.1f us, (c) ficus %.1f us\n", m.SinkCPUMicros, m.FicusCPUMicros)
		if m.FicusConfirm != nil {
			line("  (c) ficus: acked and slot confirmed", *m.FicusConfirm)
			fmt.Fprintf(w, "  ratio = c / min(a, b): confirmed %.2f, in stream %.2f\n", m.Ratio, m.RatioAcked)
		} else {
			fmt.Fprintf(w, "  ratio = c / min(a, b): in stream %.2f (partial drain: confirmation not measured)\n", m.RatioAcked)
		}
	}
}

func writeResult(w io.Writer, dir string, r pgResult) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("results dir: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	path := filepath.Join(dir, "pgcapture-"+r.Time.Format("20060102T150405Z")+".json")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	fmt.Fprintf(w, "\nresult written to %s\n", path)
	return nil
}
