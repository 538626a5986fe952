// Command ficus is the strangler-fig migration sidecar: one binary whose
// subcommands run the proxy, change data capture, or both.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// command is one subcommand: its flags, its help text and what it runs.
type command struct {
	name    string
	summary string
	help    string // what it does and which config keys it reads
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"run", "run every configured part: proxy, capture (and NATS, admin)", runHelp, runCmd},
		{"proxy", "run only the HTTP proxy (with NATS and the admin listener)", proxyHelp, proxyCmd},
		{"capture", "run only change data capture (with NATS and the admin listener)", captureHelp, captureCmd},
		{"routes", "list or change route weights on a running ficus through its admin API", routesHelp, routesCmd},
		{"report", "group recorded shadow mismatches by signature (text, json or html)", reportHelp, reportCmd},
		{"replay", "send recorded traffic of a route to a new service and compare (export: to a file)", replayHelp, replayCmd},
		{"reconcile", "compare the two tables of a compare_data entry inside both databases", reconcileHelp, reconcileCmd},
		{"validate", "check a config file and print every error", validateHelp, validateCmd},
		{"nats-url", "print the NATS URL with its credentials, for scripts and the nats CLI", natsURLHelp, natsURLCmd},
		{"demo", "the whole migration story on this machine: a legacy shop, its new service, ficus in front", demoHelp, demoCmd},
		{"demo-app", "serve the demo's legacy shop or new orders service on its own (compose trial)", demoAppHelp, demoAppCmd},
		{"version", "print the version", "Usage: ficus version\n\nPrints the ficus version and the Go version it was built with.\n", versionCmd},
	}
}

// exitError carries a specific exit code (validate exits 1 on a bad config).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// defaultMemoryLimit is the Go soft memory limit ficus runs with unless GOMEMLIMIT
// says otherwise. Capture and the embedded NATS server produce short-lived garbage
// at event rates; without a limit the default GOGC lets the heap grow to twice its
// live size, which is what pushes RSS past what a sidecar is given. A soft limit only
// makes the collector work earlier; it never fails an allocation.
const defaultMemoryLimit = 256 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfile := startCPUProfile(os.Getenv("FICUS_CPUPROFILE"), os.Stderr)
	code := realMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stopProfile()
	stop()
	os.Exit(code)
}

// startCPUProfile writes a CPU profile to path (FICUS_CPUPROFILE) until the
// returned func is called; it is how the capture benchmark profiles ficus.
func startCPUProfile(path string, stderr io.Writer) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(stderr, "ficus: FICUS_CPUPROFILE: %v\n", err)
		if f != nil {
			_ = f.Close() // nothing was written; the error above is the one to report
		}
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(stderr, "ficus: FICUS_CPUPROFILE: %v\n", err)
		}
	}
}

func realMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if c, ok := findCommand(args[0]); ok {
		err := c.run(ctx, args[1:], stdout, stderr)
		if err == nil || errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var ee *exitError
		if errors.As(err, &ee) {
			if ee.err != nil && ee.err.Error() != "" {
				fmt.Fprintln(stderr, ee.err)
			}
			return ee.code
		}
		fmt.Fprintf(stderr, "ficus %s: %v\n", c.name, err)
		return 1
	}
	fmt.Fprintf(stderr, "ficus: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

// findCommand returns the command called name.
func findCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func usage(w io.Writer) {
	fmt.Fprint(w, "ficus — strangler-fig migration sidecar: proxy, shadow, change data capture.\n\nUsage: ficus <command> [flags]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun 'ficus <command> --help' for a command's flags and the config keys it reads.\n")
}

// newFlags makes a FlagSet whose -h prints the command's help text.
func newFlags(name, help string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("ficus "+name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprint(out, help)
		fmt.Fprintln(out, "\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

func configFlag(fs *flag.FlagSet) *string {
	return fs.String("c", "./ficus.yaml", "config file (YAML)")
}
