// Package demo is `ficus demo`: a strangler-fig migration end to end on
// this machine. It starts throwaway PostgreSQL and MariaDB servers
// (internal/testenv), the legacy shop and the new orders service
// (internal/demo/apps) and ficus in front of them, drives customer traffic
// through ficus, prints a status line per second read from ficus's admin
// API and ends with a summary. RunApp serves one of the two applications on
// its own (`ficus demo-app`).
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ficus-migrate/ficus/internal/demo/apps"
)

// Options are the demo's settings (the flags of `ficus demo`).
type Options struct {
	// Duration is how long traffic is driven before the summary.
	Duration time.Duration
	// Rate is the customers' requests per second.
	Rate float64
	// Keep leaves everything running after the summary, until ctx ends.
	Keep bool
	// Dir holds ficus.yaml and NATS's data; empty means a temporary
	// directory, removed at the end.
	Dir string
	// Verbose sets ficus's log level to info (its lines go to Run's logw).
	Verbose bool
	// Self is how the --keep hints call the ficus binary (./bin/ficus
	// after `make demo`); empty means "ficus".
	Self string
	// Ficus runs one ficus command in this process, as `ficus ARGS...`
	// would, and returns the command's error (nil when it exits 0). The
	// demo's ficus is `ficus run`; it reads what an operator would through
	// `ficus nats-url` and `ficus reconcile`. cmd/ficus passes its own
	// commands: this package cannot import a command.
	Ficus func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// ficusFunc is Options.Ficus.
type ficusFunc = func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// Run runs the demo: it prints the story, the status lines and the summary
// to w, and the servers' log lines to logw. It returns when the run is over
// (with Keep: when ctx ends), everything stopped. Ctrl-C (ctx ending)
// still prints the summary so far.
func Run(ctx context.Context, o Options, w io.Writer, logw io.Writer) (err error) {
	if o.Ficus == nil {
		return errors.New("demo: Options.Ficus is not set")
	}
	if o.Dir == "" {
		tmp, err := os.MkdirTemp("", "ficus-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		o.Dir = tmp
	} else if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return err
	}
	if o.Self == "" {
		o.Self = "ficus"
	}

	fmt.Fprint(w, intro)
	var dbs databases
	var stopped []string
	defer func() {
		cerr := dbs.close()
		if cerr == nil && len(stopped) > 0 {
			fmt.Fprintf(w, "\nStopped %s; PostgreSQL and MariaDB stopped by PID, their directories removed.\n", join(stopped))
		}
		err = errors.Join(err, cerr)
	}()

	began := time.Now()
	dbs, err = startDatabases(ctx, logw)
	if err != nil {
		return fmt.Errorf("demo databases: %w", err)
	}
	fmt.Fprintf(w, "  PostgreSQL 15  127.0.0.1:%d (pid %d)   new orders service's database\n", dbs.pg.Port, dbs.pg.PID())
	fmt.Fprintf(w, "  MariaDB        127.0.0.1:%d (pid %d)   legacy shop's database\n", dbs.maria.Port, dbs.maria.PID())

	running, err := startApps(ctx, dbs, customers, logw)
	if err != nil {
		return fmt.Errorf("demo apps: %w", err)
	}
	defer running.close()
	stopped = append(stopped, "the shop", "the new orders service")
	fmt.Fprintf(w, "  legacy shop    %s   (Go over MariaDB: /api/customers, /api/orders)\n", running.shopURL)
	fmt.Fprintf(w, "  orders service %s   (Go over PostgreSQL: /api/orders; takes the shop's dual writes)\n", running.ordersURL)

	conf := setup{
		dir: o.Dir, verbose: o.Verbose, duration: o.Duration,
		proxy: freeOr("127.0.0.1:8080"), admin: freeOr("127.0.0.1:9901"), nats: freeOr("127.0.0.1:4222"),
		shopURL: running.shopURL, ordersURL: running.ordersURL,
		shopDSN:   fmt.Sprintf("root@tcp(%s:%d)/shop", dbs.maria.Host, dbs.maria.Port),
		ordersDSN: dbs.pg.DSN(),
	}
	path, err := conf.writeConfig()
	if err != nil {
		return err
	}
	// ficus runs in this process exactly as `ficus run -c ficus.yaml` would.
	// Its context is not the caller's, so that after Ctrl-C the summary can
	// still be read from its admin API before it is stopped.
	ficusCtx, stopFicus := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- o.Ficus(ficusCtx, []string{"run", "-c", path}, io.Discard, logw) }()
	defer func() {
		stopFicus()
		if ferr := <-done; ferr != nil {
			err = errors.Join(err, fmt.Errorf("ficus: %w", ferr))
		}
	}()
	stopped = append([]string{"ficus"}, stopped...)
	adminURL := "http://" + conf.admin
	admin := newAdmin(adminURL)
	if err := waitReady(ctx, adminURL+"/readyz", done, 90*time.Second); err != nil {
		return err
	}
	interval, minReq := conf.rolloutTiming()
	fmt.Fprintf(w, "  ficus proxy    http://%s   (clients talk to this; legacy is the shop)\n", conf.proxy)
	fmt.Fprintf(w, "  ficus admin    http://%s   (dashboard at /, API under /api)\n", conf.admin)
	fmt.Fprintf(w, "  NATS           nats://%s   (embedded JetStream: CDC streams, route state; needs the credentials `ficus nats-url` prints)\n", conf.nats)
	fmt.Fprintf(w, "  config         %s\n", path)
	fmt.Fprintf(w, "  everything up in %s\n\n", time.Since(began).Round(100*time.Millisecond))
	fmt.Fprintf(w, "Rollout of %s: steps 5 → 25 → 50 → 100 %%, each held %s and judged after %d requests on new;\n"+
		"rolled back at once if shadow mismatches exceed 1 %%, new's 5xx rate legacy's by 2 points, or its p99 20×,\n"+
		"or if the data gate finds more than 1 %% of the orders settled in the step differing (or missing) between the\n"+
		"two databases (compare_data %s: its last verdict is in [gates: …]).\n\n",
		routeName, interval, minReq, compareName)

	fmt.Fprintf(w, "Every second: %s's weight and rollout phase (GET /api/rollout), answers served by each side, the shadow\n"+
		"match rate (GET /api/shadow/%s), CDC events from MariaDB + PostgreSQL (/metrics) and the data comparison\n"+
		"(GET /api/data/%s); rollout decisions as ficus publishes them (ficus.rollout.%s).\n\n",
		routeName, routeName, compareName, routeName)
	var events rolloutEvents
	if err := events.subscribe(ctx, o.Ficus, path); err != nil {
		fmt.Fprintf(w, "  (rollout decisions will not be shown as they happen: %v)\n", err)
	}
	defer events.close()

	var campaign atomic.Bool
	traffic := apps.NewTraffic(apps.TrafficConfig{
		BaseURL: "http://" + conf.proxy, Customers: customers, Rate: o.Rate,
		Coupons: campaign.Load, Seed: uint64(time.Now().UnixNano()),
	})
	trafficCtx, stopTraffic := context.WithCancel(context.WithoutCancel(ctx))
	var trafficDone sync.WaitGroup
	trafficDone.Go(func() { traffic.Run(trafficCtx) })
	defer func() { stopTraffic(); trafficDone.Wait() }()

	driveBegan := time.Now()
	events.setStart(driveBegan)
	elapsed := watch(ctx, w, admin, traffic, &events, &campaign, driveBegan, o.Duration)
	if ctx.Err() != nil {
		fmt.Fprintf(w, "\nInterrupted after %s: the summary so far.\n", clock(elapsed))
	}
	if !o.Keep || ctx.Err() != nil {
		stopTraffic()
		trafficDone.Wait()
	}
	// The data comparison reports a key only after max_lag (3s): let the
	// last orders settle before reading the findings.
	settle(ctx, 4*time.Second)
	summary(context.WithoutCancel(ctx), w, admin, traffic, running.shop, &events, summaryInput{
		elapsed: elapsed, config: path, adminURL: adminURL, nats: conf.nats, ficus: o.Ficus,
	})
	if o.Keep && ctx.Err() == nil {
		fmt.Fprintf(w, "\nStill running (traffic continues) until Ctrl-C. Try:\n"+
			"  %[5]s routes list -c %[1]s\n  %[5]s routes resume %[2]s -c %[1]s\n"+
			"  nats --server \"$(%[5]s nats-url -c %[1]s)\" stream ls\n"+
			"  %[5]s report -c %[1]s --route %[2]s\n  %[5]s reconcile -c %[1]s %[3]s\n"+
			"  curl -H 'X-Customer-Id: 7' 'http://%[4]s/api/orders?customer_id=7'\n",
			path, routeName, compareName, conf.proxy, o.Self)
		<-ctx.Done()
	} else if !o.Keep && ctx.Err() == nil {
		fmt.Fprintln(w, "\n(`ficus demo --keep`, or `make demo DEMO_ARGS=--keep`, leaves it all running to explore.)")
	}
	return nil
}

// customers is the number of the shop's customers.
const customers = 300

const intro = `ficus demo: moving a shop's /api/orders from its legacy app to a new service, safely.

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
func watch(ctx context.Context, w io.Writer, admin admin, traffic *apps.Traffic, events *rolloutEvents,
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
				clock(elapsed), apps.Coupon)
		}
		st := traffic.Stats()
		fmt.Fprintln(w, statusLine(elapsed, snap, [2]int64{st.ServedLegacy, st.ServedNew}))
		if elapsed >= duration {
			events.print(w)
			return elapsed
		}
	}
}

func settle(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// freeOr keeps the default address when it is free, else picks a free port on the same host.
func freeOr(addr string) string {
	l, err := net.Listen("tcp", addr)
	if err == nil {
		_ = l.Close() // it was only a test that the address is free
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

func waitReady(ctx context.Context, url string, done <-chan error, timeout time.Duration) error {
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
		_ = resp.Body.Close() // read already; only the status and the text matter
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		last = resp.Status + " " + string(b)
	}
	return fmt.Errorf("ficus was not ready at %s within %s (last answer: %s)", url, timeout, last)
}

// quietLogger is the demo apps' logger: warnings and errors only.
func quietLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func join(items []string) string {
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
