// Command ficusbench runs ficus's benchmarks against reference tools in one
// run on this machine, so the ratios it prints are comparable even on a
// noisy, shared host. Each benchmark lives in its own file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand; helpers (backend, refproxy) are subcommands too
// so benchmarks can start them as child processes of this same binary.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"proxy", "wrk: direct vs nginx, HAProxy, Caddy vs minimal ReverseProxy vs ficus (1 route, 20 routes sticky)", proxyBenchCmd},
		{"replay", "ficus replay of recorded exchanges against a local backend, beside wrk on the same backend", replayBenchCmd},
		{"refproxy", "helper: minimal httputil.ReverseProxy with a tuned transport and a buffer pool", refProxyCmd},
		{"backend", "helper: Go HTTP server answering every request with 1 KiB of JSON", backendCmd},
		{"pgcapture", "PostgreSQL capture: pg_recvlogical vs JetStream publish vs ficus capture, 1M rows", pgCaptureCmd},
		{"reconcile", "data reconcile: checksum-and-bisect vs naive read-and-compare, 1M equal rows MariaDB vs PostgreSQL", reconcileBenchCmd},
		{"reconcile-keys", "data reconcile by key kind: integer vs composite vs UUID keys, 200,000 rows, 20 differences each", reconcileKeysBenchCmd},
		{"datacompare", "continuous data comparison: bare JetStream consumer vs ficus comparison (capacity), and paced 5,000 changes/s per side", dataCompareBenchCmd},
		{"mysqlcapture", "MariaDB capture: mariadb-binlog vs JetStream publish vs ficus capture, 1M rows", mysqlCaptureCmd},
		{"backfill", "backfill while streaming vs the initial snapshot (rows/s, 1M rows), and the streaming lag during a backfill under 2,000 changes/s", backfillBenchCmd},
		{"plugins", "transform plugin (child process, gRPC) vs in-process no-op, per event at batch 1, 64, 512", pluginsBenchCmd},
		{"noop-plugin", "helper: the no-op transform served as a ficus plugin", noopPluginCmd},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := realMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func realMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		return 2
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		if err == nil || errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "ficusbench %s: %v\n", c.name, err)
		return 1
	}
	fmt.Fprintf(stderr, "ficusbench: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: ficusbench <command> [flags]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
}
