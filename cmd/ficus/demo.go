package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ficus-migrate/ficus/internal/demo/apps"
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

// demoOpts are the demo's flags.
type demoOpts struct {
	keep     bool
	dir      string
	verbose  bool
	duration time.Duration
	rate     float64
}

func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", demoHelp, stderr)
	var o demoOpts
	fs.BoolVar(&o.keep, "keep", false, "keep everything running after the summary, until Ctrl-C")
	fs.StringVar(&o.dir, "data", "", "directory for ficus.yaml and NATS (default: a temporary one, removed at the end)")
	fs.BoolVar(&o.verbose, "v", false, "show ficus's and the databases' log lines")
	fs.DurationVar(&o.duration, "duration", time.Minute, "how long to drive traffic before the summary")
	fs.Float64Var(&o.rate, "rate", 40, "requests per second")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.duration < 5*time.Second || o.rate <= 0 || o.rate > 2000 {
		return &exitError{code: 2, err: errors.New("demo: --duration must be at least 5s and --rate 0 < r <= 2000")}
	}
	if need := demoMissingDeps(); len(need) > 0 {
		if err := demoInstallDeps(ctx, need, stdout); err != nil {
			return &exitError{code: 1, err: err}
		}
	}
	if o.dir == "" {
		tmp, err := os.MkdirTemp("", "ficus-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		o.dir = tmp
	} else if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	logw := io.Discard
	if o.verbose {
		logw = stderr
	}
	return runDemo(ctx, o, stdout, logw)
}

func runDemo(ctx context.Context, o demoOpts, w io.Writer, logw io.Writer) (err error) {
	fmt.Fprint(w, demoIntro)
	tb := &demoTB{log: logw}
	var stopped []string
	defer func() {
		cerr := tb.cleanup()
		if cerr == nil && len(stopped) > 0 {
			fmt.Fprintf(w, "\nStopped %s; PostgreSQL and MariaDB stopped by PID, their directories removed.\n", demoJoin(stopped))
		}
		err = errors.Join(err, cerr)
	}()

	began := time.Now()
	dbs, err := demoStartDBs(tb)
	if err != nil {
		return fmt.Errorf("demo databases: %w", err)
	}
	fmt.Fprintf(w, "  PostgreSQL 15  127.0.0.1:%d (pid %d)   new orders service's database\n", dbs.pg.Port, dbs.pg.PID())
	fmt.Fprintf(w, "  MariaDB        127.0.0.1:%d (pid %d)   legacy shop's database\n", dbs.maria.Port, dbs.maria.PID())

	apps, err := demoStartApps(ctx, dbs, demoCustomers, logw)
	if err != nil {
		return fmt.Errorf("demo apps: %w", err)
	}
	defer apps.close()
	stopped = append(stopped, "the shop", "the new orders service")
	fmt.Fprintf(w, "  legacy shop    %s   (Go over MariaDB: /api/customers, /api/orders)\n", apps.shopURL)
	fmt.Fprintf(w, "  orders service %s   (Go over PostgreSQL: /api/orders; takes the shop's dual writes)\n", apps.ordersURL)

	setup := demoSetup{
		dir: o.dir, verbose: o.verbose, duration: o.duration,
		proxy: freeOr("127.0.0.1:8080"), admin: freeOr("127.0.0.1:9901"), nats: freeOr("127.0.0.1:4222"),
		shopURL: apps.shopURL, ordersURL: apps.ordersURL,
		shopDSN:   fmt.Sprintf("root@tcp(%s:%d)/shop", dbs.maria.Host, dbs.maria.Port),
		ordersDSN: dbs.pg.DSN(),
	}
	path, err := setup.writeConfig()
	if err != nil {
		return err
	}
	// ficus runs in this process exactly as `ficus run -c ficus.yaml` would.
	// Its context is not the caller's, so that after Ctrl-C the summary can
	// still be read from its admin API before it is stopped.
	ficusCtx, stopFicus := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- runCmd(ficusCtx, []string{"-c", path}, io.Discard, logw) }()
	defer func() {
		stopFicus()
		if ferr := <-done; ferr != nil {
			err = errors.Join(err, fmt.Errorf("ficus: %w", ferr))
		}
	}()
	stopped = append([]string{"ficus"}, stopped...)
	admin := demoAdmin{base: "http://" + setup.admin, client: &http.Client{Timeout: 5 * time.Second}}
	if err := demoWaitReady(ctx, admin.base+"/readyz", done, 90*time.Second); err != nil {
		return err
	}
	interval, minReq := setup.rolloutTiming()
	fmt.Fprintf(w, "  ficus proxy    http://%s   (clients talk to this; legacy is the shop)\n", setup.proxy)
	fmt.Fprintf(w, "  ficus admin    http://%s   (dashboard at /, API under /api)\n", setup.admin)
	fmt.Fprintf(w, "  NATS           nats://%s   (embedded JetStream: CDC streams, route state; needs the credentials `ficus nats-url` prints)\n", setup.nats)
	fmt.Fprintf(w, "  config         %s\n", path)
	fmt.Fprintf(w, "  everything up in %s\n\n", time.Since(began).Round(100*time.Millisecond))
	fmt.Fprintf(w, "Rollout of %s: steps 5 → 25 → 50 → 100 %%, each held %s and judged after %d requests on new;\n"+
		"rolled back at once if shadow mismatches exceed 1 %%, new's 5xx rate legacy's by 2 points, or its p99 20×.\n\n",
		demoRoute, interval, minReq)

	fmt.Fprintf(w, "Every second: %s's weight and rollout phase (GET /api/rollout), answers served by each side, the shadow\n"+
		"match rate (GET /api/shadow/%s), CDC events from MariaDB + PostgreSQL (/metrics) and the data comparison\n"+
		"(GET /api/data/%s); rollout decisions as ficus publishes them (ficus.rollout.%s).\n\n",
		demoRoute, demoRoute, demoCompare, demoRoute)
	var events demoEvents
	if err := events.subscribe(path); err != nil {
		fmt.Fprintf(w, "  (rollout decisions will not be shown as they happen: %v)\n", err)
	}
	defer events.close()

	var campaign atomic.Bool
	traffic := demoapps.NewTraffic(demoapps.TrafficConfig{
		BaseURL: "http://" + setup.proxy, Customers: demoCustomers, Rate: o.rate,
		Coupons: campaign.Load, Seed: uint64(time.Now().UnixNano()),
	})
	trafficCtx, stopTraffic := context.WithCancel(context.WithoutCancel(ctx))
	var trafficDone sync.WaitGroup
	trafficDone.Go(func() { traffic.Run(trafficCtx) })
	defer func() { stopTraffic(); trafficDone.Wait() }()

	driveBegan := time.Now()
	events.setStart(driveBegan)
	elapsed := demoWatch(ctx, w, admin, traffic, &events, &campaign, driveBegan, o.duration)
	if ctx.Err() != nil {
		fmt.Fprintf(w, "\nInterrupted after %s: the summary so far.\n", demoClock(elapsed))
	}
	if !o.keep || ctx.Err() != nil {
		stopTraffic()
		trafficDone.Wait()
	}
	// The data comparison reports a key only after max_lag (3s): let the
	// last orders settle before reading the findings.
	demoSettle(ctx, 4*time.Second)
	demoSummary(context.WithoutCancel(ctx), w, admin, traffic, apps.shop, &events, demoSummaryInput{
		elapsed: elapsed, config: path, adminURL: admin.base, nats: setup.nats,
	})
	if o.keep && ctx.Err() == nil {
		fmt.Fprintf(w, "\nStill running (traffic continues) until Ctrl-C. Try:\n"+
			"  %[5]s routes list -c %[1]s\n  %[5]s routes resume %[2]s -c %[1]s\n"+
			"  nats --server \"$(%[5]s nats-url -c %[1]s)\" stream ls\n"+
			"  %[5]s report -c %[1]s --route %[2]s\n  %[5]s reconcile -c %[1]s %[3]s\n"+
			"  curl -H 'X-Customer-Id: 7' 'http://%[4]s/api/orders?customer_id=7'\n",
			path, demoRoute, demoCompare, setup.proxy, demoSelf())
		<-ctx.Done()
	} else if !o.keep && ctx.Err() == nil {
		fmt.Fprintln(w, "\n(`ficus demo --keep`, or `make demo DEMO_ARGS=--keep`, leaves it all running to explore.)")
	}
	return nil
}

// demoSelf is how to call this binary again: ./bin/ficus after `make demo`.
func demoSelf() string {
	if len(os.Args) > 0 && filepath.Base(os.Args[0]) == "ficus" {
		return os.Args[0]
	}
	return "ficus"
}

// demoCustomers is the number of the shop's customers.
const demoCustomers = 300

const demoIntro = `ficus demo: moving a shop's /api/orders from its legacy app to a new service, safely.

  clients ──▶ ficus ──▶ legacy shop (MariaDB)          writes stay on the shop, which forwards each
                  └──▶ new orders service (PostgreSQL)  order to the new service (a dual write)

ficus mirrors every GET /api/orders* to the side that did not serve it and compares the answers,
raises the new service's share step by step while it keeps up, captures every row change of both
databases onto NATS JetStream, and compares the two orders tables. The new service has a deliberate
bug: it truncates coupon-discounted totals where the shop rounds them (one cent off, half the time).

Starting (free ports where the standard ones are taken):
`

// watch prints one status line per second until the duration has passed or
// ctx ends; it starts the coupon campaign once the rollout reaches its
// second step (25 %) or a third of the time has passed. It returns how long traffic ran.
func demoWatch(ctx context.Context, w io.Writer, admin demoAdmin, traffic *demoapps.Traffic, events *demoEvents,
	campaign *atomic.Bool, began time.Time, duration time.Duration) time.Duration {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return time.Since(began)
		case <-tick.C:
		}
		elapsed := time.Since(began)
		events.print(w)
		snap := admin.snapshot(ctx)
		if ctx.Err() != nil {
			return elapsed // the figures were cut off by Ctrl-C
		}
		if !campaign.Load() && (elapsed >= duration/3 || (snap.rolloutErr == nil && snap.rollout.Weight >= 25)) {
			campaign.Store(true)
			fmt.Fprintf(w, "  ▸ %s the shop starts a coupon campaign: most new orders now use %s (10 %% off)\n",
				demoClock(elapsed), demoapps.Coupon)
		}
		st := traffic.Stats()
		fmt.Fprintln(w, demoStatusLine(elapsed, snap, [2]int64{st.ServedLegacy, st.ServedNew}))
		if elapsed >= duration {
			events.print(w)
			return elapsed
		}
	}
}

func demoSettle(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// freeOr keeps the default address when it is free, else picks a free port on the same host.
func freeOr(addr string) string {
	l, err := net.Listen("tcp", addr)
	if err == nil {
		l.Close()
		return addr
	}
	host, _, _ := net.SplitHostPort(addr)
	l, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return addr
	}
	defer l.Close()
	return l.Addr().String()
}

func demoWaitReady(ctx context.Context, url string, done <-chan error, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			if err == nil {
				err = errors.New("stopped before it was ready")
			}
			return fmt.Errorf("ficus did not start: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		resp, err := http.Get(url)
		if err != nil {
			last = err.Error()
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		last = resp.Status + " " + string(b)
	}
	return fmt.Errorf("ficus was not ready at %s within %s (last answer: %s)", url, timeout, last)
}

// quietLogger is the demo apps' logger: warnings and errors only.
func demoLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func demoJoin(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	out := items[0]
	for _, s := range items[1 : len(items)-1] {
		out += ", " + s
	}
	return out + " and " + items[len(items)-1]
}
