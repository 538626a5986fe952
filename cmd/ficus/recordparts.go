package main

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/ficus-migrate/ficus/internal/config"
	"github.com/ficus-migrate/ficus/internal/metrics"
	"github.com/ficus-migrate/ficus/shadow/redact"
	"github.com/ficus-migrate/ficus/shadow/traffic/mirror"
	"github.com/ficus-migrate/ficus/shadow/traffic/recording"
)

// startRecording builds the traffic recorder when a route has
// record.enabled; it returns nil otherwise. Like shadowing, recording is
// read at start: a reload changes weights and matches, not what is
// recorded.
func startRecording(ctx context.Context, g *errgroup.Group, rt *proc, legacy *url.URL) (*recording.Recorder, error) {
	pc, sc := rt.cfg.Proxy, rt.cfg.Shadow
	if !pc.RecordEnabled() {
		return nil, nil
	}
	key, err := redactKey(rt.cfg, rt.log)
	if err != nil {
		return nil, err
	}
	if key == nil {
		if key, err = redact.NewKey(); err != nil {
			return nil, err
		}
	}
	var routes []recording.Route
	var maxAge time.Duration
	var maxBytes int64
	for _, r := range pc.Routes {
		if !r.Record.Enabled {
			continue
		}
		rr, err := recordRoute(r, legacy)
		if err != nil {
			return nil, err
		}
		routes = append(routes, rr)
		maxAge = max(maxAge, r.Record.MaxAge)
		maxBytes += r.Record.MaxBytes
	}
	// The stream is created now if NATS answers at once; otherwise the
	// recorder retries in the background — the proxy does not wait for it.
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	rec, err := recording.New(rctx, recording.Config{
		Conn: rt.bus.Conn, Routes: routes, MaxAge: maxAge, MaxBytes: maxBytes,
		Redact: sc.RedactRules(), RedactKey: key, Logger: rt.log,
	})
	if err != nil {
		return nil, err
	}
	if err := recordingMetrics(rt, rec); err != nil {
		return nil, err
	}
	rt.admin.AddComponent("recording", func(context.Context) error {
		if !rt.bus.Conn.IsConnected() {
			return fmt.Errorf("NATS unreachable: traffic records are queued, then dropped and counted (%d dropped so far)", rec.Stats().Dropped)
		}
		return nil
	})
	g.Go(func() error { return rec.Run(ctx) })
	return rec, nil
}

func recordRoute(r config.Route, legacy *url.URL) (recording.Route, error) {
	u, err := url.Parse(r.New)
	if err != nil {
		return recording.Route{}, fmt.Errorf("route %q: new: %w", r.Name, err)
	}
	rr := recording.Route{
		Name:   r.Name,
		Paths:  mirror.Paths{Legacy: legacy, New: u, StripPrefix: r.StripPrefix, AddPrefix: r.AddPrefix},
		Sample: r.Record.Sample, Methods: r.Record.Methods, MaxBodyBytes: r.Record.MaxBodyBytes,
		MaxPerSecond: r.Record.MaxPerSecond,
	}
	if r.Sticky.Kind != config.StickyNone {
		rr.StickyKind, rr.StickyName = string(r.Sticky.Kind), r.Sticky.Name
	}
	return rr, nil
}

// recordingMetrics exports the recorder's counters as
// ficus_record_records_total{result}: written, dropped (queue full),
// failed (publish not acknowledged) and limited (over max_per_second).
func recordingMetrics(rt *proc, rec *recording.Recorder) error {
	registrar := metrics.NewRegistrar(rt.reg)
	for _, r := range []struct {
		result string
		get    func(recording.Stats) uint64
	}{
		{"written", func(s recording.Stats) uint64 { return s.Written }},
		{"dropped", func(s recording.Stats) uint64 { return s.Dropped }},
		{"failed", func(s recording.Stats) uint64 { return s.Failed }},
		{"limited", func(s recording.Stats) uint64 { return s.Limited }},
	} {
		registrar.Own(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "ficus_record_records_total",
			Help:        "Recorded exchanges (record: on a route) by result: written to FICUS_TRAFFIC, dropped (queue full), failed (not acknowledged) or limited (sampled beyond the route's record.max_per_second).",
			ConstLabels: prometheus.Labels{"result": r.result},
		}, func() float64 { return float64(r.get(rec.Stats())) }))
	}
	return registrar.Err()
}
