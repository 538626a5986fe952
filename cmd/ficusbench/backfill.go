package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/capture/backfill"
	"github.com/ficus-migrate/ficus/capture/postgres"
	"github.com/ficus-migrate/ficus/capture/sink"
	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// The backfill benchmark: on each engine, the rows/s of a backfill while
// streaming (capture/backfill) against the initial snapshot's in the same
// run, and the streaming lag while a backfill runs under a writer. The
// readers run in this process (capture/postgres, capture/mysql), on
// throwaway servers (internal/testenv).

type backfillResult struct {
	Time      time.Time         `json:"time"`
	GoVersion string            `json:"go_version"`
	CPUs      int               `json:"cpus"`
	Rows      int               `json:"rows"`
	Chunk     int               `json:"chunk"`
	Writer    int               `json:"writer_changes_per_sec"`
	Engines   []backfillEngineR `json:"engines"`
}

type backfillEngineR struct {
	Engine   string `json:"engine"`
	Snapshot rate   `json:"initial_snapshot"`
	Backfill rate   `json:"backfill_idle"`
	// Ratio is backfill / snapshot rows/s (the goal: >= 0.5).
	Ratio float64 `json:"ratio"`
	// Under a writer: the backfill's rate, the changes/s the writer made,
	// and the streaming lag of the changes written while the backfill ran,
	// and before it (baseline): from the write (the writer's clock, in the
	// row) to the reader turning it into an event (the event's ts_ms).
	BackfillUnderWrites rate    `json:"backfill_under_writes"`
	WriterRate          float64 `json:"writer_achieved_per_sec"`
	LagP50Ms            float64 `json:"lag_p50_ms"`
	LagP99Ms            float64 `json:"lag_p99_ms"`
	LagMaxMs            float64 `json:"lag_max_ms"`
	BaselineLagP99Ms    float64 `json:"baseline_lag_p99_ms"`
	LagSamples          int     `json:"lag_samples"`
	// To a consumer of the stream (JetStream included).
	ConsumerLagP99Ms         float64 `json:"consumer_lag_p99_ms"`
	BaselineConsumerLagP99Ms float64 `json:"baseline_consumer_lag_p99_ms"`
}

func backfillBenchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ficusbench backfill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rows := fs.Int("rows", 1_000_000, "rows of the table")
	chunk := fs.Int("chunk", backfill.DefaultChunk, "backfill rows per chunk")
	writer := fs.Int("writer", 2000, "changes/s of the writer during the lag measurement")
	engines := fs.String("engines", "postgres,mysql", "engines to measure, comma separated")
	outDir := fs.String("out", "bench-results", "directory for the JSON result")
	profile := fs.String("cpuprofile", "", "write the CPU profile of the idle backfill to PREFIX-<engine>.pprof")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 40*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("component", "ficusbench.backfill")
	res := backfillResult{Time: time.Now().UTC(), GoVersion: runtime.Version(), CPUs: runtime.NumCPU(),
		Rows: *rows, Chunk: *chunk, Writer: *writer}
	for _, name := range strings.Split(*engines, ",") {
		b := &bfBench{log: log.With("engine", name), rows: *rows, chunk: *chunk, writer: *writer}
		if *profile != "" {
			b.profile = *profile + "-" + name + ".pprof"
		}
		r, err := b.run(ctx, strings.TrimSpace(name))
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		res.Engines = append(res.Engines, r)
	}
	printBackfill(stdout, res)
	return writeJSONResult(stdout, *outDir, "backfill", res.Time, res)
}

// bfBench is one engine's run.
type bfBench struct {
	log                 *slog.Logger
	rows, chunk, writer int
	profile             string

	eng   canon.Engine
	table string
	// update returns one writer's update of a row's wrote_at (unix µs).
	update func(ctx context.Context) (exec func(ctx context.Context, wroteAt int64, id int) error, closeFn func(), err error)
	nc     *nats.Conn
	js     jetstream.JetStream
	// source builds a reader named name.
	source func(name, snapshot string, mgr *backfill.Manager) (capture.Source, error)
}

func (b *bfBench) run(ctx context.Context, engine string) (backfillEngineR, error) {
	r := backfillEngineR{Engine: engine}
	n, err := testenv.StartNATS(ctx, testenv.NATSOptions{Logf: debugf(b.log)})
	if err != nil {
		return r, fmt.Errorf("start nats: %w", err)
	}
	defer closeLogged(b.log, "nats", n)
	if b.nc, err = nats.Connect(n.URL); err != nil {
		return r, fmt.Errorf("connect nats: %w", err)
	}
	defer b.nc.Close()
	if b.js, err = jetstream.New(b.nc); err != nil {
		return r, err
	}
	closeDB, err := b.setup(ctx, engine)
	if err != nil {
		return r, err
	}
	defer closeDB()

	b.log.Info("initial snapshot", "rows", b.rows)
	took, err := b.snapshot(ctx)
	if err != nil {
		return r, err
	}
	r.Snapshot = newRate(b.rows, took)
	b.log.Info("initial snapshot done", "rows_per_s", int(r.Snapshot.RowsPerSec))

	mgr, err := backfill.New(backfill.Config{Source: "bf", Dialect: b.eng, JS: b.js, Logger: quietLogger()})
	if err != nil {
		return r, err
	}
	src, err := b.source("bf", postgres.SnapshotNever, mgr)
	if err != nil {
		return r, err
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- src.Run(sctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			b.log.Error("reader", "err", err)
		}
	}()

	b.log.Info("backfill, idle", "rows", b.rows, "chunk", b.chunk)
	var prof *os.File
	if b.profile != "" {
		if prof, err = os.Create(b.profile); err != nil {
			return r, fmt.Errorf("cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(prof); err != nil {
			return r, errors.Join(fmt.Errorf("cpu profile: %w", err), prof.Close())
		}
	}
	took, err = b.backfill(ctx, mgr, nil)
	if prof != nil {
		pprof.StopCPUProfile()
		if cerr := prof.Close(); cerr != nil {
			return r, fmt.Errorf("cpu profile: %w", cerr)
		}
	}
	if err != nil {
		return r, err
	}
	r.Backfill = newRate(b.rows, took)
	r.Ratio = r.Backfill.RowsPerSec / r.Snapshot.RowsPerSec
	b.log.Info("backfill done", "rows_per_s", int(r.Backfill.RowsPerSec), "ratio", r.Ratio)

	b.log.Info("backfill under a writer", "changes_per_s", b.writer)
	if err := b.underWrites(ctx, mgr, &r); err != nil {
		return r, err
	}
	return r, nil
}

// snapshot runs a reader with an initial snapshot until the stream holds
// every row.
func (b *bfBench) snapshot(ctx context.Context) (time.Duration, error) {
	src, err := b.source("snap", postgres.SnapshotInitial, nil)
	if err != nil {
		return 0, err
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	began := time.Now()
	go func() { done <- src.Run(sctx) }()
	err = b.waitMsgs(ctx, "snap", uint64(b.rows), done)
	took := time.Since(began)
	stop()
	if rerr := <-done; err == nil {
		err = rerr
	}
	if err != nil {
		return 0, err
	}
	return took, b.js.DeleteStream(ctx, sink.StreamName("snap"))
}

// waitMsgs waits until source's stream holds at least n messages.
func (b *bfBench) waitMsgs(ctx context.Context, source string, n uint64, done <-chan error) error {
	for {
		if st, err := b.js.Stream(ctx, sink.StreamName(source)); err == nil {
			if info, err := st.Info(ctx); err == nil && info.State.Msgs >= n {
				return nil
			}
		}
		select {
		case err := <-done:
			return fmt.Errorf("reader stopped: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// backfill queues a backfill of the whole table and waits for its end.
func (b *bfBench) backfill(ctx context.Context, mgr *backfill.Manager, started func()) (time.Duration, error) {
	var began time.Time
	for {
		began = time.Now()
		_, err := mgr.Enqueue(ctx, backfill.Request{Table: b.table, Chunk: b.chunk})
		if err == nil {
			break
		}
		if !errors.Is(err, backfill.ErrNotActive) {
			return 0, err
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	if started != nil {
		started()
	}
	for {
		st, err := mgr.Status(ctx)
		if err == nil && st.State == "idle" {
			if st.LastError != "" {
				return 0, fmt.Errorf("backfill: %s", st.LastError)
			}
			return time.Since(began), nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func printBackfill(w io.Writer, r backfillResult) {
	fmt.Fprintf(w, "\nBackfill while streaming: %d rows, chunks of %d, %d CPUs, %s\n", r.Rows, r.Chunk, r.CPUs, r.GoVersion)
	for _, e := range r.Engines {
		fmt.Fprintf(w, "%s\n", e.Engine)
		fmt.Fprintf(w, "  %-40s %10.0f rows/s %8.1f s\n", "initial snapshot", e.Snapshot.RowsPerSec, e.Snapshot.Seconds)
		fmt.Fprintf(w, "  %-40s %10.0f rows/s %8.1f s   ratio %.2f (goal >= 0.5)\n", "backfill, idle", e.Backfill.RowsPerSec, e.Backfill.Seconds, e.Ratio)
		fmt.Fprintf(w, "  %-40s %10.0f rows/s %8.1f s\n", fmt.Sprintf("backfill, writer %.0f changes/s", e.WriterRate),
			e.BackfillUnderWrites.RowsPerSec, e.BackfillUnderWrites.Seconds)
		fmt.Fprintf(w, "  streaming lag during the backfill: p50 %.0f ms, p99 %.0f ms, max %.0f ms (%d changes); before it p99 %.0f ms\n",
			e.LagP50Ms, e.LagP99Ms, e.LagMaxMs, e.LagSamples, e.BaselineLagP99Ms)
		fmt.Fprintf(w, "  to a consumer of the stream: p99 %.0f ms during the backfill, %.0f ms before it\n",
			e.ConsumerLagP99Ms, e.BaselineConsumerLagP99Ms)
	}
}
