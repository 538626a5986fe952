package main

import (
	"context"
	"fmt"

	"github.com/ficus-migrate/ficus/internal/config"
	"github.com/ficus-migrate/ficus/proxy/rollout"
	"github.com/ficus-migrate/ficus/proxy/rollout/gates"
	"github.com/ficus-migrate/ficus/shadow/data/reconcile"
)

// rolloutGates builds rollout.gates' checks. Data gates follow NATS until
// ctx ends.
func rolloutGates(ctx context.Context, rt *proc, c config.RolloutGates) ([]rollout.Gate, error) {
	var out []rollout.Gate
	for _, g := range c.Prometheus {
		out = append(out, gates.NewPrometheus(gates.PrometheusConfig{Name: g.Name, URL: g.URL.Reveal(), Query: g.Query,
			Max: g.Max, Min: g.Min, OnError: gates.OnError(g.OnError), Timeout: g.Timeout, DryRun: g.DryRun}))
	}
	for _, g := range c.Webhook {
		out = append(out, gates.NewWebhook(gates.WebhookConfig{Name: g.Name, URL: g.URL.Reveal(), Timeout: g.Timeout, DryRun: g.DryRun}))
	}
	for _, g := range c.Data {
		d, err := gates.NewData(gates.DataConfig{Name: g.Name, Compare: g.Compare, MaxDifferRate: g.MaxDifferRate,
			MaxMissingRate: g.MaxMissingRate, MaxBehindSeconds: g.MaxBehindSeconds, DryRun: g.DryRun, Conn: rt.bus.Conn})
		if err != nil {
			return nil, err
		}
		context.AfterFunc(ctx, func() { _ = d.Close() })
		out = append(out, d)
	}
	return out, nil
}

// completeCheck is complete_when: a reconcile run of the pair, in this
// process, with the entry's plugin when it has one.
func completeCheck(rt *proc, route string, c config.CompleteWhen) rollout.Gate {
	log := rt.log.With("component", "rollout", "route", route, "compare", c.Reconcile)
	return gates.NewReconcile(gates.ReconcileConfig{Compare: c.Reconcile, MaxDifferences: c.MaxDifferences,
		Run: func(ctx context.Context) (gates.ReconcileOutcome, error) {
			i, cd, err := compareData(rt.cfg, c.Reconcile)
			if err != nil {
				return gates.ReconcileOutcome{}, err
			}
			judge, err := rt.plugins.judge(ctx, i, cd)
			if err != nil {
				return gates.ReconcileOutcome{}, err
			}
			log.Info("complete_when: reconcile run started")
			// Gentler than the command's default parallelism: it runs beside
			// the traffic (and under the entry's throttle).
			res, err := reconcilePair(ctx, rt.cfg, c.Reconcile, reconcile.Config{Parallel: 2, Judge: judge,
				Progress: reconcileProgress(log, c.Reconcile), Log: log})
			if err != nil {
				return gates.ReconcileOutcome{}, fmt.Errorf("reconcile %s: %w", c.Reconcile, err)
			}
			out := gates.ReconcileOutcome{Differences: len(res.Differences), LegacyRows: res.Stats.LegacyRows,
				NewRows: res.Stats.NewRows, Wall: res.Stats.Wall}
			for _, d := range res.Differences[:min(len(res.Differences), 10)] {
				out.Keys = append(out.Keys, d.Brief())
			}
			log.Info("complete_when: reconcile run ended", "differences", out.Differences, "wall", out.Wall.String())
			return out, nil
		}})
}
