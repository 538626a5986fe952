package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
	"github.com/ficus-migrate/ficus/shadow/data/continuous"
)

// The continuous data comparison benchmark, on an embedded JetStream (what
// `ficus run` uses by default). Capture events of both sides are
// published straight to the capture streams (the capture benchmarks
// measure capture itself):
//
//   - capacity: N events per side are stored first, then drained by a bare
//     durable consumer per side that only acknowledges (the reference: what
//     JetStream delivers to any consumer on this machine), and by ficus's
//     comparison; the ratio is ficus's keys per second over the
//     reference's messages per second, per side.
//   - paced: both sides write R changes per second each for D seconds while
//     the comparison runs; "behind" is how long after its commit each
//     change was compared (goal: p99 under 2 s at 5,000 per second).

type dataCompareResult struct {
	Time         time.Time `json:"time"`
	GoVersion    string    `json:"go_version"`
	CPUs         int       `json:"cpus"`
	Events       int       `json:"capacity_events_per_side"`
	RefPerSec    float64   `json:"reference_events_per_second_per_side"`
	FicusPerSec  float64   `json:"ficus_keys_per_second_per_side"`
	Ratio        float64   `json:"ratio"`
	PacedRate    int       `json:"paced_rate_per_side"`
	PacedSeconds float64   `json:"paced_seconds"`
	PacedKeys    int64     `json:"paced_keys_matched"`
	BehindP50    float64   `json:"behind_p50_seconds"`
	BehindP99    float64   `json:"behind_p99_seconds"`
	BehindMax    float64   `json:"behind_max_seconds"`
	DrainSeconds float64   `json:"drain_after_last_write_seconds"`
}

const (
	benchLegacyStream = "FICUS_CDC_SHOP"
	benchNewStream    = "FICUS_CDC_ORDERS_SVC"
)

func dataCompareBenchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("datacompare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	events := fs.Int("events", 50_000, "capacity: events stored per side before draining")
	rate := fs.Int("rate", 5000, "paced: changes per second per side")
	dur := fs.Duration("duration", 20*time.Second, "paced: how long both sides write")
	outDir := fs.String("out", "bench-results", "directory for the JSON result")
	workers := fs.Int("workers", 0, "comparison workers (0: ficus's default)")
	profile := fs.String("cpuprofile", "", "write a CPU profile of the whole run (server, comparison, publisher) to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	stopProfile, err := cpuProfile(*profile)
	if err != nil {
		return err
	}
	defer stopProfile()
	ctx, log, done := benchRun(ctx, stderr, "datacompare", 10*time.Minute)
	defer done()
	ns, err := testenv.StartNATS(ctx, testenv.NATSOptions{Logf: debugf(log)})
	if err != nil {
		return fmt.Errorf("start nats: %w", err)
	}
	defer closeLogged(log, "nats", ns)
	nc, err := nats.Connect(ns.URL)
	if err != nil {
		return fmt.Errorf("connect nats: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	for name, subj := range map[string]string{benchLegacyStream: "ficus.cdc.shop.>", benchNewStream: "ficus.cdc.orders_svc.>"} {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subj}}); err != nil {
			return fmt.Errorf("stream %s: %w", name, err)
		}
	}
	res := dataCompareResult{Time: time.Now().UTC(), GoVersion: runtime.Version(), CPUs: runtime.NumCPU(),
		Events: *events, PacedRate: *rate}

	log.Info("capacity: storing events", "per_side", *events)
	capSides := benchSides("cap")
	if err := publishRange(ctx, js, capSides, 1, *events, time.Now()); err != nil {
		return err
	}
	log.Info("capacity: reference consumer")
	refTime, err := drainBare(ctx, js, capSides, *events)
	if err != nil {
		return err
	}
	res.RefPerSec = float64(*events) / refTime.Seconds()
	log.Info("capacity: ficus comparison")
	began := time.Now()
	c, stop, err := startComparer(ctx, js, "bench-cap", capSides, *workers)
	if err != nil {
		return err
	}
	err = waitMatched(ctx, c, int64(*events), 5*time.Minute)
	ficusTime := time.Since(began)
	stop()
	if err != nil {
		return err
	}
	res.FicusPerSec = float64(*events) / ficusTime.Seconds()
	res.Ratio = res.FicusPerSec / res.RefPerSec

	log.Info("paced", "rate_per_side", *rate, "duration", dur.String())
	paced := benchSides("paced")
	c, stop, err = startComparer(ctx, js, "bench-paced", paced, *workers)
	if err != nil {
		return err
	}
	defer stop()
	// Key 0 first: the paced writes start once the comparison consumes.
	if err := publishRange(ctx, js, paced, 0, 0, time.Now()); err != nil {
		return err
	}
	if err := waitMatched(ctx, c, 1, time.Minute); err != nil {
		return err
	}
	written, lastWrite, err := publishPaced(ctx, js, paced, *rate, *dur)
	if err != nil {
		return err
	}
	if err := waitMatched(ctx, c, written+1, 5*time.Minute); err != nil {
		return err
	}
	f := c.Figures()
	res.PacedSeconds, res.PacedKeys = dur.Seconds(), f.Matched-1
	res.BehindP50, res.BehindP99, res.BehindMax = f.BehindP50, f.BehindP99, f.BehindMax
	res.DrainSeconds = time.Since(lastWrite).Seconds()

	fmt.Fprintf(stdout, "\ncontinuous data comparison, embedded JetStream, %d CPUs\n\n", res.CPUs)
	fmt.Fprintf(stdout, "| run | per side | per second per side |\n|---|---:|---:|\n")
	fmt.Fprintf(stdout, "| reference: bare consumer, ack only | %d events | %.0f |\n", *events, res.RefPerSec)
	fmt.Fprintf(stdout, "| ficus: compare both sides (state in KV) | %d keys | %.0f |\n", *events, res.FicusPerSec)
	fmt.Fprintf(stdout, "\nratio ficus / reference: %.2f\n", res.Ratio)
	fmt.Fprintf(stdout, "\npaced %d changes/s per side for %s: %d keys matched, behind p50 %.2fs p99 %.2fs max %.2fs, drained %.2fs after the last write (goal: p99 < 2 s)\n",
		res.PacedRate, dur, res.PacedKeys, res.BehindP50, res.BehindP99, res.BehindMax, res.DrainSeconds)
	return writeJSONResult(stdout, *outDir, "datacompare", res.Time, res)
}

// benchSide is one side's stream and table subject.
type benchSide struct {
	stream, subject, key, amountCol string
	legacy                          bool
}

func benchSides(table string) [2]benchSide {
	return [2]benchSide{
		{stream: benchLegacyStream, subject: "ficus.cdc.shop.shop." + table, key: "id", amountCol: "amount", legacy: true},
		{stream: benchNewStream, subject: "ficus.cdc.orders_svc.public." + table, key: "legacy_id", amountCol: "total"},
	}
}

// event is a capture envelope of an inserted order as ficus capture
// writes it (five columns, commit time at).
func benchEvent(s benchSide, key int, at time.Time) []byte {
	amount := strconv.Itoa(key % 100000) // cents on the new side
	if s.legacy {
		amount = `"` + strconv.Itoa(key%100000/100) + "." + fmt.Sprintf("%02d", key%100) + `"`
	}
	status := "created"
	if s.legacy {
		status = "NEW"
	}
	return fmt.Appendf(nil, `{"op":"c","before":null,"after":{%q:%d,"status":%q,%q:%s,"customer_id":%d,"note":"note-%d"},`+
		`"key":{%q:%d},"source":{"connector":"bench","ts_ms":%d},"ts_ms":%d}`,
		s.key, key, status, s.amountCol, amount, key%5000, key, s.key, key, at.UnixMilli(), at.UnixMilli())
}

// publishRange stores keys lo..hi on both sides, waiting for every ack.
func publishRange(ctx context.Context, js jetstream.JetStream, sides [2]benchSide, lo, hi int, at time.Time) error {
	for k := lo; k <= hi; k++ {
		for _, s := range sides {
			if _, err := js.PublishAsync(s.subject, benchEvent(s, k, at)); err != nil {
				return fmt.Errorf("publish: %w", err)
			}
		}
	}
	select {
	case <-js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// publishPaced writes rate keys per second per side for d, every 10 ms,
// with the commit time of the moment written.
func publishPaced(ctx context.Context, js jetstream.JetStream, sides [2]benchSide, rate int, d time.Duration) (int64, time.Time, error) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	next := 1
	for now := range tick.C {
		if now.Sub(start) >= d {
			break
		}
		due := int(now.Sub(start).Seconds()*float64(rate)) + 1
		for ; next <= due; next++ {
			for _, s := range sides {
				if _, err := js.PublishAsync(s.subject, benchEvent(s, next, now)); err != nil {
					return 0, time.Time{}, fmt.Errorf("publish: %w", err)
				}
			}
		}
		if ctx.Err() != nil {
			return 0, time.Time{}, ctx.Err()
		}
	}
	last := time.Now()
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return 0, time.Time{}, ctx.Err()
	}
	return int64(next - 1), last, nil
}

// drainBare reads and acknowledges n messages per side with one durable
// consumer per side, configured as the comparison's are.
func drainBare(ctx context.Context, js jetstream.JetStream, sides [2]benchSide, n int) (time.Duration, error) {
	began := time.Now()
	var total atomic.Int64
	errs := make(chan error, 2)
	for _, s := range sides {
		cons, err := js.CreateOrUpdateConsumer(ctx, s.stream, jetstream.ConsumerConfig{
			Durable: "bench_ref_" + s.key, FilterSubject: s.subject,
			AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy, MaxAckPending: continuous.MaxAckPending,
		})
		if err != nil {
			return 0, err
		}
		go func() {
			it, err := cons.Messages()
			if err != nil {
				errs <- err
				return
			}
			defer it.Stop()
			for range n {
				m, err := it.Next()
				if err != nil {
					errs <- err
					return
				}
				if err := m.Ack(); err != nil {
					errs <- err
					return
				}
				total.Add(1)
			}
			errs <- nil
		}()
	}
	for range 2 {
		select {
		case err := <-errs:
			if err != nil {
				return 0, err
			}
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return time.Since(began), nil
}

// startComparer runs a comparison of the bench's orders tables.
func startComparer(ctx context.Context, js jetstream.JetStream, name string, sides [2]benchSide, workers int) (*continuous.Comparer, func(), error) {
	cols := func(s benchSide) []string { return []string{"status", s.amountCol, "customer_id", "note"} }
	c, err := continuous.New(continuous.Config{
		Name: name, JS: js, MaxLag: 30 * time.Second, Workers: workers,
		Legacy: continuous.Side{Stream: sides[0].stream, Subject: sides[0].subject, Key: "id", Columns: cols(sides[0]),
			Rules: []canon.Rule{{Map: map[string]string{"NEW": "created", "PAID": "paid"}}, {Scale: "100"}, {}, {}}},
		New:        continuous.Side{Stream: sides[1].stream, Subject: sides[1].subject, Key: "legacy_id", Columns: cols(sides[1])},
		Kinds:      []canon.Kind{canon.KindText, canon.KindDecimal, canon.KindInteger, canon.KindText},
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		return nil, nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(rctx)
	}()
	return c, func() { cancel(); <-done }, nil
}

// waitMatched waits until n keys match.
func waitMatched(ctx context.Context, c *continuous.Comparer, n int64, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		f := c.Figures()
		if f.Matched >= n {
			return nil
		}
		if f.Errors > 0 {
			return fmt.Errorf("comparison errors: %+v", f)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return errors.New("comparison did not match every key in time: " + fmt.Sprint(c.Figures()))
}

// benchRun is what a database benchmark starts with: a deadline and a
// logger; done releases the deadline.
func benchRun(ctx context.Context, stderr io.Writer, name string, timeout time.Duration) (context.Context, *slog.Logger, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("component", "ficusbench."+name)
	return ctx, log, cancel
}
