package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/ficus-migrate/ficus/capture/backfill"
	"github.com/ficus-migrate/ficus/capture/standby"
	"github.com/ficus-migrate/ficus/internal/admin"
	"github.com/ficus-migrate/ficus/internal/bus"
	"github.com/ficus-migrate/ficus/internal/config"
)

const runHelp = `Usage: ficus run [-c FILE]

Runs every part the config file enables, in one process: the proxy (when proxy.listen
or proxy.routes are set), change data capture (one source per capture.sources entry),
NATS (embedded unless nats.url is set) and the admin listener.
SIGINT/SIGTERM stop it cleanly: listeners stop accepting, in-flight work finishes,
NATS publishes are flushed, and the process exits 0. A compare_data entry with a
query side (legacy.query or new.query) without query_tables is refused at start: such
a query side is compared by ficus reconcile only.

Config keys read: log.*, nats.*, admin.*, proxy.*, capture.*, compare_data.*
`

const proxyHelp = `Usage: ficus proxy [-c FILE]

Runs only the HTTP proxy (plus NATS and the admin listener): requests to proxy.listen
go to proxy.legacy, or to a route's new service by the route's weight.

Config keys read: log.*, nats.*, admin.*, proxy.*
`

const captureHelp = `Usage: ficus capture [-c FILE]
       ficus capture backfill SOURCE TABLE [--where SQL] [--chunk 10000] (see ficus capture backfill -h)

Runs only change data capture (plus NATS and the admin listener): every row change of
the configured databases becomes one event on JetStream, subject
<capture.subject_prefix>.<source>.<schema>.<table>.

Config keys read: log.*, nats.*, admin.*, capture.*
`

// parts selects what a process runs.
type parts struct{ proxy, capture, data bool }

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return serveCmd(ctx, "run", runHelp, parts{proxy: true, capture: true, data: true}, args, stderr)
}

func proxyCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return serveCmd(ctx, "proxy", proxyHelp, parts{proxy: true}, args, stderr)
}

func captureCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "backfill" {
		return backfillCmd(ctx, args[1:], stdout, stderr)
	}
	return serveCmd(ctx, "capture", captureHelp, parts{capture: true}, args, stderr)
}

func serveCmd(ctx context.Context, name, help string, p parts, args []string, stderr io.Writer) error {
	fs := newFlags(name, help, stderr)
	path := configFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path, os.LookupEnv)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	log, err := newLogger(string(cfg.Log.Format), string(cfg.Log.Level), stderr)
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings() {
		log.Warn(w.Error())
	}
	if p.data {
		// Before anything starts: a comparison ficus run cannot make.
		if err := refuseQuerySides(cfg); err != nil {
			return &exitError{code: 1, err: err}
		}
	}
	return serve(ctx, cfg, p, log)
}

// partCheck registers a part outside the request path (capture, data
// comparison, plugins): in a process that serves the proxy it is a
// component, which degrades the process without taking the proxy out of
// its Service; in one without a request path (ficus capture) it is what
// readiness means.
func (rt *proc) partCheck(name string, c admin.Check) {
	if rt.servesRequests {
		rt.admin.AddComponent(name, c)
		return
	}
	rt.admin.AddCheck(name, c)
}

// proc is what every part of a ficus process shares.
type proc struct {
	cfg   *config.Config
	log   *slog.Logger
	reg   *prometheus.Registry
	admin *admin.Server
	bus   *bus.Bus
	// plugins are the running plugins (plugins:), started before the parts
	// that use them.
	plugins pluginSet
	// servesRequests is set when the process runs the proxy: its readiness
	// is then the request path's alone (partCheck).
	servesRequests bool
	// capture is each capture source's standby runner, by source name,
	// for GET /api/capture/{source}.
	capture map[string]*standby.Standby
	// backfill is each capture source's backfill queue, by source name
	// (sources whose reader runs backfills).
	backfill map[string]*backfill.Manager
	// captureFailed holds, by source name, the error that stopped a
	// capture source (GET /api/capture shows it).
	captureFailed sync.Map
}

// serve wires the process: admin listener first (so /healthz answers and a taken
// port fails fast), then NATS — without waiting for it: when it is not
// reachable yet, the parts start anyway and the connection comes in the
// background — then the parts; it returns when ctx ends or a part fails,
// after a clean shutdown.
func serve(ctx context.Context, cfg *config.Config, p parts, log *slog.Logger) error {
	rt := &proc{cfg: cfg, log: log, reg: newRegistry(), servesRequests: p.proxy && cfg.Proxy.Enabled()}
	adm, err := admin.New(admin.Config{
		Listen:       cfg.Admin.Listen,
		Token:        cfg.Admin.Token.Reveal(),
		AllowedHosts: cfg.Admin.AllowedHosts,
		Gatherer:     rt.reg,
		Registerer:   rt.reg,
		Pprof:        os.Getenv("FICUS_PPROF") == "1",
		Logger:       log,
	})
	if err != nil {
		return err
	}
	rt.admin = adm
	var natsUp atomic.Pointer[bus.Bus] // set once opened; the checks read it concurrently
	// NATS is a component, never a readiness check of the request path: a
	// NATS outage must not take the legacy app out of its Service.
	adm.AddComponent("nats", func(ctx context.Context) error {
		b := natsUp.Load()
		if b == nil {
			return errors.New("connecting to NATS")
		}
		return b.Ready(ctx)
	})

	// Parts register their own checks as they start; until all have, the
	// ones not yet registered must not let /readyz say 200.
	var started atomic.Bool
	adm.AddCheck("startup", func(context.Context) error {
		if !started.Load() {
			return errors.New("starting")
		}
		return nil
	})

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return adm.Run(gctx) })

	b, err := bus.Open(gctx, busConfig(cfg, log))
	if err != nil {
		stopGroup(g, adm)
		return err
	}
	rt.bus = b
	natsUp.Store(b)

	if err := startParts(gctx, g, rt, p); err != nil {
		err = errors.Join(err, closeBus(b))
		stopGroup(g, adm)
		return err
	}
	mountDashboard(rt, p)
	started.Store(true)
	log.Info("ficus running", "version", version, "admin", adm.Addr(), "nats", natsDescription(b))

	<-gctx.Done()
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	log.Info("shutting down")
	return errors.Join(err, closeBus(b))
}

// stopGroup is for failures during start-up: it waits for what already runs.
// Closing the admin listener ends adm.Run with an error, which cancels the
// group's context and so stops the parts already started. What the group
// returns then is that listener error or a stopped part's, so it is dropped:
// the caller returns the start-up failure itself.
func stopGroup(g *errgroup.Group, adm *admin.Server) {
	_ = adm.Close()
	_ = g.Wait()
}

func closeBus(b *bus.Bus) error {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	return b.Close(ctx)
}

func natsDescription(b *bus.Bus) string {
	if b.Embedded() {
		return "embedded " + b.ClientURL()
	}
	return b.Conn.ConnectedUrlRedacted()
}

func busConfig(cfg *config.Config, log *slog.Logger) bus.Config {
	n := cfg.NATS
	urls := make([]string, len(n.URLs))
	for i, u := range n.URLs {
		urls[i] = u.Reveal()
	}
	return bus.Config{
		URLs:        urls,
		Credentials: n.Credentials,
		TLSCA:       n.TLS.CA,
		TLSCert:     n.TLS.Cert,
		TLSKey:      n.TLS.Key,
		Name:        n.Name,
		Embedded:    embeddedConfig(n.Embedded),
		Logger:      log,
	}
}

func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "ficus_build_info",
			Help:        "Always 1; the version label says which ficus runs.",
			ConstLabels: prometheus.Labels{"version": version},
		}, func() float64 { return 1 }),
	)
	return reg
}

// startParts starts the proxy and capture parts the config enables.
func startParts(ctx context.Context, g *errgroup.Group, rt *proc, p parts) error {
	var err error
	if rt.plugins, err = startPlugins(ctx, g, rt); err != nil {
		return fmt.Errorf("plugins: %w", err)
	}
	if p.proxy && rt.cfg.Proxy.Enabled() {
		if err := startProxy(ctx, g, rt); err != nil {
			return fmt.Errorf("proxy: %w", err)
		}
	}
	if p.capture && len(rt.cfg.Capture.Sources) > 0 {
		if err := startCapture(ctx, g, rt); err != nil {
			return fmt.Errorf("capture: %w", err)
		}
	}
	if p.data && len(rt.cfg.CompareData) > 0 {
		if err := startData(ctx, g, rt); err != nil {
			return fmt.Errorf("compare_data: %w", err)
		}
	}
	return nil
}
