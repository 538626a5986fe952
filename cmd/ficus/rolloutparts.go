package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"

	"golang.org/x/sync/errgroup"

	"github.com/ficus-migrate/ficus/cmd/ficus/config"
	"github.com/ficus-migrate/ficus/proxy/rollout"
	"github.com/ficus-migrate/ficus/proxy/route"
	"github.com/ficus-migrate/ficus/proxy/routestate"
)

// routeState is the reverse proxy's link to the shared bucket ficus_routes:
// the weights every process applies, the operator actions and, for routes
// with a rollout, the controller.
type routeState struct {
	sync     *routestate.Syncer
	store    *routestate.Store
	instance string
}

// openRouteState opens (or creates) the bucket, seeds the routes it lacks
// from the config file and returns specs carrying the bucket's weights, so
// the proxy never serves at a stale weight after a restart.
func openRouteState(ctx context.Context, rt *proc, specs []route.Spec) (*routeState, []route.Spec, error) {
	store, err := routestate.Open(ctx, routestate.Config{JS: rt.bus.JS, Logger: rt.log})
	if err != nil {
		return nil, nil, err
	}
	inst := instanceID()
	s := routestate.NewSyncer(routestate.SyncConfig{Store: store, Instance: inst, Logger: rt.log})
	specs, err = s.Prepare(ctx, specs)
	if err != nil {
		return nil, nil, fmt.Errorf("route state: %w", err)
	}
	return &routeState{sync: s, store: store, instance: inst}, specs, nil
}

// start attaches the proxy, mounts the operator API and runs the bucket
// watch, the counter publisher and the rollout controller.
func (r *routeState) start(ctx context.Context, g *errgroup.Group, rt *proc, p routestate.Target) error {
	r.sync.Attach(p)
	routes := rt.cfg.Proxy.Routes
	names := make([]string, len(routes))
	plans := map[string]rollout.Plan{}
	for i, rc := range routes {
		names[i] = rc.Name
		if rc.Rollout != nil {
			plans[rc.Name] = rolloutPlan(*rc.Rollout)
		}
	}
	ctl, err := rollout.NewController(rollout.ControllerConfig{
		Store: r.store, Conn: rt.bus.Conn, Plans: plans, Instance: r.instance, Registerer: rt.reg, Logger: rt.log,
	})
	if err != nil {
		return err
	}
	adm := rollout.NewAdmin(rollout.AdminConfig{
		Store: r.store, Routes: names, Plans: plans, Events: rt.bus.Conn, Instance: r.instance, Logger: rt.log,
	})
	h := adm.Handler()
	rt.admin.Handle("PUT /api/routes/{name}", h)
	rt.admin.Handle("POST /api/routes/{name}/{action}", h)
	rt.admin.Handle("GET /api/rollout", h)
	pub := rollout.NewStatsPublisher(rollout.StatsConfig{
		Gatherer: rt.reg, Conn: rt.bus.Conn, Instance: r.instance, Routes: names, Logger: rt.log,
	})
	g.Go(func() error { return r.sync.Run(ctx) })
	if len(plans) > 0 {
		g.Go(func() error { return pub.Run(ctx) })
		g.Go(func() error { return ctl.Run(ctx) })
	}
	return nil
}

func rolloutPlan(c config.Rollout) rollout.Plan {
	return rollout.Plan{
		Steps: c.Steps, Interval: c.Interval, MinRequests: uint64(c.MinRequests),
		MaxMismatchRate: c.MaxMismatchRate, MaxErrorRateDelta: c.MaxErrorRateDelta, MaxP99Ratio: c.MaxP99Ratio,
		OnFailure: rollout.OnFailure(c.OnFailure),
	}
}

// instanceID names this process in leases, reports and events: readable
// (host and pid) and unique across restarts (random suffix).
func instanceID() string {
	host, _ := os.Hostname()
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}
