package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/ficus-migrate/ficus/internal/config"
	"github.com/ficus-migrate/ficus/internal/metrics"
	"github.com/ficus-migrate/ficus/proxy"
	"github.com/ficus-migrate/ficus/proxy/route"
	"github.com/ficus-migrate/ficus/proxy/upstream"
	"github.com/ficus-migrate/ficus/shadow/traffic/mirror"
	"github.com/ficus-migrate/ficus/shadow/traffic/noise"
	"github.com/ficus-migrate/ficus/shadow/traffic/record"
)

// routeSetter is what live reloads need from a proxy of either mode.
type routeSetter interface {
	SetRoutes([]route.Spec) error
}

func startProxy(ctx context.Context, g *errgroup.Group, rt *proc) error {
	pc := rt.cfg.Proxy
	if pc.Mode == config.ModeForward {
		return startForwardProxy(ctx, g, rt)
	}
	legacy, err := url.Parse(pc.Legacy)
	if err != nil {
		return fmt.Errorf("proxy.legacy: %w", err)
	}
	specs, err := routeSpecs(pc.Routes)
	if err != nil {
		return err
	}
	hook, err := startShadow(ctx, g, rt, legacy)
	if err != nil {
		return fmt.Errorf("shadow: %w", err)
	}
	state, specs, err := openRouteState(ctx, rt, specs) // weights come from the bucket ficus_routes
	if err != nil {
		return err
	}
	state.shadow, _ = hook.(*mirror.Mirror) // the rollout's mismatch gate judges its tallies
	rec, err := startRecording(ctx, g, rt, legacy)
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	if rec != nil {
		hook = upstream.Chain(hook, rec)
	}
	p, err := proxy.New(proxy.Config{
		Listen:         pc.Listen,
		Legacy:         legacy,
		ServedByHeader: pc.ServedByHeader,
		MaxHeaderBytes: int(pc.MaxHeaderBytes),
		Timeouts:       upstreamTimeouts(pc.Timeouts.Timeouts),
		// client limits: proxy.timeouts.client_*, nginx's defaults
		ReadHeaderTimeout:      pc.Timeouts.ClientHeader,
		ClientBodyTimeout:      pc.Timeouts.ClientBody,
		IdleTimeout:            pc.Timeouts.ClientIdle,
		MaxResponseHeaderBytes: pc.Timeouts.UpstreamResponseHeaderBytes,
		MaxRequestBodyBytes:    pc.MaxRequestBodyBytes,
		RequestBufferBytes:     pc.RequestBufferBytes,
		Routes:                 specs,
		Hook:                   hook,
		Logger:                 rt.log,
		Registerer:             rt.reg,
	})
	if err != nil {
		return err
	}
	rt.admin.Handle("GET /api/routes", p.AdminHandler()) // changes go through the bucket (rolloutparts.go)
	if err := state.start(ctx, g, rt, p); err != nil {
		return err
	}
	rt.admin.AddCheck("proxy", func(context.Context) error {
		select {
		case <-p.Ready():
			return nil
		default:
			return fmt.Errorf("proxy not listening yet on %s", pc.Listen)
		}
	})
	g.Go(func() error { return p.Run(ctx) })
	g.Go(func() error { return watchConfig(ctx, rt, state.sync) })
	return nil
}

// startShadow builds the shadow mirror when a route has shadow enabled: its
// recorder publishes to FICUS_SHADOW, its figures are served on the admin
// API. It returns a nil Hook otherwise, so the proxy keeps its fast path.
// Shadow settings are read at start; a reload changes only route weights
// and matches, not what is shadowed.
func startShadow(ctx context.Context, g *errgroup.Group, rt *proc, legacy *url.URL) (upstream.Hook, error) {
	pc, sc := rt.cfg.Proxy, rt.cfg.Shadow
	if !pc.ShadowEnabled() {
		return nil, nil
	}
	key, err := redactKey(rt.cfg, rt.log)
	if err != nil {
		return nil, err
	}
	// The stream is created now if NATS answers at once; otherwise the
	// recorder retries in the background — the proxy does not wait for it.
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	rec, err := record.New(rctx, record.Config{
		Conn:      rt.bus.Conn,
		MaxAge:    shadowMaxAge(sc.MaxAge),
		Redact:    sc.RedactRules(),
		RedactKey: key,
		BodyBytes: int(sc.RecordBodyBytes),
		Logger:    rt.log,
	})
	if err != nil {
		return nil, err
	}
	var routes []mirror.Route
	for _, r := range pc.Routes {
		if !r.Shadow.Enabled {
			continue
		}
		mr, err := mirrorRoute(r)
		if err != nil {
			return nil, err
		}
		if r.Compare.Plugin != "" {
			mr.Comparator = rt.plugins[r.Compare.Plugin].Comparator()
		}
		routes = append(routes, mr)
	}
	m, err := mirror.New(mirror.Config{
		Legacy:     legacy,
		Routes:     routes,
		Workers:    sc.Workers,
		Queue:      sc.Queue,
		QueueBytes: sc.QueueBytes,
		Recorder:   rec,
		Logger:     rt.log,
		Registerer: rt.reg,
	})
	if err != nil {
		return nil, err
	}
	if err := recorderMetrics(rt, rec); err != nil {
		return nil, err
	}
	rt.admin.AddComponent("shadow.record", func(context.Context) error {
		if !rt.bus.Conn.IsConnected() {
			return fmt.Errorf("NATS unreachable: mismatch records are queued, then dropped and counted (%d dropped so far)", rec.Stats().Dropped)
		}
		return nil
	})
	rt.admin.Handle("GET /api/shadow/{route}", m.Handler())
	g.Go(func() error { return m.Run(ctx) })
	g.Go(func() error { return rec.Run(ctx) })
	return m, nil
}

// recorderMetrics exports the recorder's counters as
// ficus_shadow_records_total{result}: written, dropped (queue full — a NATS
// outage longer than the queue lasts) and failed (publish not acknowledged),
// and those of the tallies as ficus_shadow_tallies_total{result}.
// The counters read rec, so they have one owner (see package internal/metrics).
func recorderMetrics(rt *proc, rec *record.Recorder) error {
	registrar := metrics.NewRegistrar(rt.reg)
	for _, m := range []struct {
		name, help string
		stats      func() record.Stats
	}{
		{"ficus_shadow_records_total", "Mismatch records by result: written to FICUS_SHADOW, dropped (queue full, e.g. during a NATS outage) or failed (not acknowledged).", rec.Stats},
		{"ficus_shadow_tallies_total", "Tallies (a route's comparisons by signature, which `ficus report` judges with the newest noise knowledge) by result: written to FICUS_SHADOW, dropped (queue full) or failed (not acknowledged).", rec.TallyStats},
	} {
		for _, r := range []struct {
			result string
			get    func(record.Stats) uint64
		}{
			{"written", func(s record.Stats) uint64 { return s.Written }},
			{"dropped", func(s record.Stats) uint64 { return s.Dropped }},
			{"failed", func(s record.Stats) uint64 { return s.Failed }},
		} {
			c := prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: m.name, Help: m.help, ConstLabels: prometheus.Labels{"result": r.result},
			}, func() float64 { return float64(r.get(m.stats())) })
			registrar.Own(c)
		}
	}
	return registrar.Err()
}

// shadowMaxAge maps the config's 0 (keep forever) to the recorder's.
func shadowMaxAge(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

func mirrorRoute(r config.Route) (mirror.Route, error) {
	u, err := url.Parse(r.New)
	if err != nil {
		return mirror.Route{}, fmt.Errorf("route %q: new: %w", r.Name, err)
	}
	mr := mirror.Route{
		Name: r.Name, New: u, StripPrefix: r.StripPrefix, AddPrefix: r.AddPrefix,
		Sample: r.Shadow.Sample, UnsafeMethods: r.Shadow.UnsafeMethods,
		MaxBodyBytes: r.Shadow.MaxBodyBytes, Timeout: r.Shadow.Timeout,
		Rules:       r.CompareRules(),
		NoiseSample: r.Noise.Sample,
		Noise: noise.Config{
			MinSamples:        r.Noise.MinSamples,
			RelativeThreshold: r.Noise.RelativeThreshold,
			AbsoluteThreshold: r.Noise.AbsoluteThreshold,
		},
	}
	if r.Noise.SecondLegacy != "" {
		if mr.SecondLegacy, err = url.Parse(r.Noise.SecondLegacy); err != nil {
			return mirror.Route{}, fmt.Errorf("route %q: noise.second_legacy: %w", r.Name, err)
		}
	}
	return mr, nil
}

func upstreamTimeouts(t config.Timeouts) upstream.Timeouts {
	return upstream.Timeouts{Connect: t.Connect, ResponseHeader: t.ResponseHeader, Idle: t.Idle}
}

// routeSpecs turns the config file's routes into the routing core's specs.
func routeSpecs(routes []config.Route) ([]route.Spec, error) {
	specs := make([]route.Spec, 0, len(routes))
	for i, r := range routes {
		u, err := url.Parse(r.New)
		if err != nil {
			return nil, fmt.Errorf("proxy.routes[%d].new: %w", i, err)
		}
		sticky := "none"
		if r.Sticky.Kind != "" && r.Sticky.Kind != config.StickyNone {
			sticky = r.Sticky.String()
		}
		specs = append(specs, route.Spec{
			Name:        r.Name,
			PathPrefix:  r.Match.PathPrefix,
			Path:        r.Match.Path,
			PathRegex:   r.Match.PathRegex,
			Methods:     r.Match.Methods,
			Host:        r.Match.Host,
			Headers:     r.Match.Headers,
			New:         u,
			Weight:      r.Weight,
			Sticky:      sticky,
			PinNew:      r.PinNew,
			StripPrefix: r.StripPrefix,
			AddPrefix:   r.AddPrefix,
			Timeouts:    upstreamTimeouts(r.Timeouts),
		})
	}
	return specs, nil
}

// watchConfig reloads the route table when the config file changes or on SIGHUP.
// A broken file is logged with all its errors and the running table stays.
// Only proxy.routes are applied live; other keys need a restart.
func watchConfig(ctx context.Context, rt *proc, p routeSetter) error {
	path := rt.cfg.Path()
	if path == "" {
		return nil
	}
	log := rt.log.With("component", "reload")
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	last := fileStamp(path)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			log.Info("SIGHUP: reloading routes", "file", path)
		case <-tick.C:
			st := fileStamp(path)
			if st == last {
				continue
			}
			last = st
			log.Info("config file changed: reloading routes", "file", path)
		}
		if err := reloadRoutes(path, p); err != nil {
			log.Error("reload rejected; the running route table stays", "err", err)
			continue
		}
		log.Info("routes reloaded")
	}
}

func reloadRoutes(path string, p routeSetter) error {
	cfg, err := config.Load(path, os.LookupEnv)
	if err != nil {
		return err
	}
	specs, err := routeSpecs(cfg.Proxy.Routes)
	if err != nil {
		return err
	}
	return p.SetRoutes(specs)
}

// fileStamp changes whenever the file is rewritten or replaced (editors and
// Kubernetes ConfigMaps replace it through a rename).
func fileStamp(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%d/%d", fi.ModTime().UnixNano(), fi.Size())
}
