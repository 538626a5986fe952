package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/ficus-migrate/ficus/plugins/builtin"
	"github.com/ficus-migrate/ficus/plugins/host"
	"github.com/ficus-migrate/ficus/plugins/sdk"
)

// The plugins benchmark: the per-event cost of a no-op transform plugin (a
// real child process over gRPC, supervised like in ficus) at batch sizes 1,
// 64 and 512, against the built-in no-op that the default path uses, in the
// same run. The plugin is this binary's noop-plugin subcommand.

// pluginGoal is the target for batch 512.
const pluginGoal = 2 * time.Microsecond

func pluginsBenchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("plugins", flag.ContinueOnError)
	fs.SetOutput(stderr)
	events := fs.Int("events", 200_000, "events sent per batch size (batch 1 sends a tenth)")
	size := fs.Int("size", 320, "bytes of JSON envelope per event")
	if err := fs.Parse(args); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	p, err := host.New(host.Config{Name: "noop", Path: self, Args: []string{"noop-plugin"},
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.Start(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "plugins: no-op transform, %d-byte events, GOMAXPROCS %d, %s\n", *size, runtime.GOMAXPROCS(0), runtime.Version())
	fmt.Fprintf(stdout, "%-6s %14s %14s %14s %14s %9s %18s\n", "batch", "in-proc ns/ev", "in-proc ev/s", "plugin µs/ev", "plugin ev/s", "ratio",
		"CPU µs/ev host+plg")
	var last float64 // ns per event
	for _, batch := range []int{1, 64, 512} {
		n := *events
		if batch == 1 {
			n /= 10
		}
		in, _, _, err := measureTransform(ctx, builtin.Noop{}, batch, n, *size)
		if err != nil {
			return err
		}
		out, host, plg, err := measureTransform(ctx, p.Transformer(), batch, n, *size)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%-6d %14.2f %14.0f %14.3f %14.0f %8.0fx %8.2f + %-7.2f\n", batch,
			in, perSecond(in), out/1e3, perSecond(out), out/in, host/1e3, plg/1e3)
		last = out
	}
	verdict := "met"
	if last >= float64(pluginGoal) {
		verdict = "NOT met"
	}
	fmt.Fprintf(stdout, "goal: batch 512 under %s per event: %s (%.3f µs)\n", pluginGoal, verdict, last/1e3)
	return nil
}

// measureTransform sends n events in batches of batch through t, one call
// at a time like a capture source, and returns the wall time and the CPU
// time of this process and of the plugin's (which stays meaningful on a
// busy machine) per event, in nanoseconds.
func measureTransform(ctx context.Context, t sdk.Transformer, batch, n, size int) (wall, host, plugin float64, err error) {
	events := make([]sdk.Event, batch)
	data := []byte(`{"op":"c","before":null,"after":{"id":1,"note":"`)
	for len(data) < size-3 {
		data = append(data, 'x')
	}
	data = append(data, `"}}`...)
	for i := range events {
		events[i] = sdk.Event{ID: fmt.Sprintf("bench:0/16B6A08:%d", i), Subject: "ficus.cdc.bench.public.orders",
			Type: "io.ficus.cdc.create", Time: time.Now(), Data: data}
	}
	// Warm up connections and buffers.
	if _, err := t.Transform(ctx, "bench", events); err != nil {
		return 0, 0, 0, err
	}
	calls := max(n/batch, 1)
	self0, _, _ := statCPU("/proc/self/stat")
	tree0, _ := treeCPU(os.Getpid())
	start := time.Now()
	for range calls {
		out, err := t.Transform(ctx, "bench", events)
		if err != nil {
			return 0, 0, 0, err
		}
		if len(out) != batch {
			return 0, 0, 0, fmt.Errorf("transform returned %d events for %d", len(out), batch)
		}
	}
	elapsed := time.Since(start)
	self1, _, _ := statCPU("/proc/self/stat")
	tree1, _ := treeCPU(os.Getpid())
	total := float64(calls * batch)
	self := self1 - self0
	return float64(elapsed.Nanoseconds()) / total, float64(self.Nanoseconds()) / total,
		float64((tree1 - tree0 - self).Nanoseconds()) / total, nil
}

func perSecond(nsPerEvent float64) float64 {
	if nsPerEvent <= 0 {
		return 0
	}
	return 1e9 / nsPerEvent
}

// noopPluginCmd serves the built-in no-op transform as a plugin process.
// FICUSBENCH_PLUGIN_CPUPROFILE=FILE profiles it (written when the host
// shuts the plugin down gracefully).
func noopPluginCmd(context.Context, []string, io.Writer, io.Writer) error {
	stop, err := cpuProfile(os.Getenv("FICUSBENCH_PLUGIN_CPUPROFILE"))
	if err != nil {
		return err
	}
	defer stop()
	sdk.Serve(sdk.Plugins{Transformer: builtin.Noop{}})
	return nil
}

// cpuProfile profiles this process into path until stop is called; an
// empty path profiles nothing.
func cpuProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close() // nothing was written; the error above is the one to report
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "ficusbench: CPU profile %s: %v\n", path, err)
		}
	}, nil
}
