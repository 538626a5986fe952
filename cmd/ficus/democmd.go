package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ficus-migrate/ficus/internal/demo"
)

const demoHelp = `Usage: ficus demo [--duration 1m] [--rate 40] [--keep] [--data DIR] [-v]

A strangler-fig migration end to end, on this machine, without Docker. It starts a
throwaway PostgreSQL 15 and MariaDB in a temporary directory, a small legacy shop
(Go, over MariaDB: customers and orders) and the new orders service meant to replace
its /api/orders (Go, over PostgreSQL, with a deliberate rounding bug), and ficus in
front of the shop: shadowing and a progressive rollout of GET /api/orders, change
data capture on both databases and a data comparison between the two orders tables.
It then drives customer traffic through ficus for --duration, printing one status
line per second (read from ficus's admin API), and ends with where the rollout
stopped and why, the top mismatch signatures, the data findings and the dashboard.

Ports: the standard ones (8080, 9901, 4222) when free, else free ones; the databases
always get free ports. Everything listens on 127.0.0.1. PostgreSQL 15 and MariaDB
come from the Debian packages postgresql-15 and mariadb-server: run as root, the demo
installs them when missing, else it prints the command. Ctrl-C stops everything
(the database servers by PID) and removes the temporary directory.
With --keep everything stays up (traffic continues) until Ctrl-C.

Config keys read: none (the demo writes its own ficus.yaml and prints where).
`

func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", demoHelp, stderr)
	o := demo.Options{Self: demoSelf(), Ficus: inProcess}
	fs.BoolVar(&o.Keep, "keep", false, "keep everything running after the summary, until Ctrl-C")
	fs.StringVar(&o.Dir, "data", "", "directory for ficus.yaml and NATS (default: a temporary one, removed at the end)")
	fs.BoolVar(&o.Verbose, "v", false, "show ficus's and the databases' log lines")
	fs.DurationVar(&o.Duration, "duration", time.Minute, "how long to drive traffic before the summary")
	fs.Float64Var(&o.Rate, "rate", 40, "requests per second")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Duration < 5*time.Second || o.Rate <= 0 || o.Rate > 2000 {
		return &exitError{code: 2, err: errors.New("demo: --duration must be at least 5s and --rate 0 < r <= 2000")}
	}
	if err := demo.EnsureDeps(ctx, stdout); err != nil {
		return &exitError{code: 1, err: err}
	}
	logw := io.Discard
	if o.Verbose {
		logw = stderr
	}
	return demo.Run(ctx, o, stdout, logw)
}

// demoSelf is how to call this binary again: ./bin/ficus after `make demo`.
func demoSelf() string {
	if len(os.Args) > 0 && filepath.Base(os.Args[0]) == "ficus" {
		return os.Args[0]
	}
	return "ficus"
}

// inProcess runs one ficus command in this process and returns its error
// as the command does (realMain turns it into an exit status): the demo's
// ficus, `ficus nats-url` and `ficus reconcile`.
func inProcess(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("ficus: no command")
	}
	c, ok := findCommand(args[0])
	if !ok {
		return fmt.Errorf("ficus: unknown command %q", args[0])
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

const demoAppHelp = `Usage: ficus demo-app shop|orders --listen ADDR --dsn DSN [--new URL] [--customers N]

Serves one of the demo's two applications on its own, for the docker compose
trial (deploy/compose) or to put ficus in front of by hand:

  shop     the legacy shop over MariaDB/MySQL: GET /api/customers/{id},
           GET /api/orders[?customer_id=N], GET /api/orders/{id},
           POST /api/orders, POST /api/orders/{id}/pay; with --new it
           forwards every order it writes to the new service (a dual write)
  orders   the new orders service over PostgreSQL, answering like the shop
           (with the demo's rounding bug on discounted totals) and taking
           the shop's dual writes on /internal/orders

Its tables are created (and the shop's customers filled) when missing.
--dsn is user:pass@tcp(host:port)/db for the shop, postgres://… for orders.

Config keys read: none.
`

func demoAppCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo-app", demoAppHelp, stderr)
	var o demo.AppOptions
	fs.StringVar(&o.Listen, "listen", "127.0.0.1:3000", "address to serve on")
	fs.StringVar(&o.DSN, "dsn", "", "the application's database")
	fs.StringVar(&o.NewURL, "new", "", "shop only: the new orders service to forward writes to")
	fs.IntVar(&o.Customers, "customers", 200, "shop only: customers created with the tables")
	if len(args) > 0 && (args[0] == "shop" || args[0] == "orders") {
		o.App, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err // --help included
	}
	if o.App == "" {
		return &exitError{code: 2, err: errors.New("demo-app: want shop or orders first (ficus demo-app --help)")}
	}
	if o.DSN == "" {
		return &exitError{code: 2, err: errors.New("demo-app: --dsn is required")}
	}
	return demo.RunApp(ctx, o, stdout, stderr)
}
