package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/ficus-migrate/ficus/internal/backoff"
	"github.com/ficus-migrate/ficus/internal/config"
	"github.com/ficus-migrate/ficus/proxy/rollout"
	"github.com/ficus-migrate/ficus/proxy/rollout/notify"
	"github.com/ficus-migrate/ficus/proxy/route"
	"github.com/ficus-migrate/ficus/proxy/routestate"
	"github.com/ficus-migrate/ficus/shadow/traffic/mirror"
)

// routeState is the reverse proxy's link to the shared bucket ficus_routes:
// the weights every process applies, the operator actions and, for routes
// with a rollout, the controller. The bucket is never in the request path:
// the proxy serves from the bucket's state when NATS answers at start-up,
// else from the last state this process applied (data_dir), else from the
// config file, and follows the bucket once it answers (the bucket wins).
type routeState struct {
	sync     *routestate.Syncer
	store    *routestate.Store // nil until the bucket could be opened
	instance string
	seeds    []route.Spec // the config file's routes, which seed the bucket
	conn     *nats.Conn
	js       jetstream.JetStream
	log      *slog.Logger
	api      atomic.Pointer[http.Handler] // the operator API, once the bucket is open
	// shadow is the mirror of the shadowed routes (nil without): the
	// counter publisher reports its comparisons by signature.
	shadow *mirror.Mirror
}

// stateWait bounds how long start-up waits for the bucket when NATS is
// connected (a cluster electing the bucket's leader answers within it);
// past it the proxy serves from the last-known state and converges later.
const stateWait = 10 * time.Second

// openRouteState returns specs carrying the weights to serve first: the
// bucket's when it answers within stateWait, so that a restart never serves
// a single request at a stale weight, else the last-known file's.
func openRouteState(ctx context.Context, rt *proc, specs []route.Spec) (*routeState, []route.Spec, error) {
	inst := instanceID()
	r := &routeState{instance: inst, seeds: specs, conn: rt.bus.Conn, js: rt.bus.JS, log: rt.log}
	r.sync = routestate.NewSyncer(routestate.SyncConfig{
		Instance: inst, LocalFile: filepath.Join(rt.cfg.DataDir, routestate.LocalFileName), Logger: rt.log,
	})
	if rt.bus.Conn.IsConnected() {
		wctx, cancel := context.WithTimeout(ctx, stateWait)
		out, err := r.open(wctx)
		cancel()
		if err == nil {
			return r, out, nil
		}
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		rt.log.Warn("route bucket not available: serving the last-known route state and converging in the background",
			"component", "routestate", "err", err)
	} else {
		rt.log.Warn("NATS not reachable: serving the last-known route state (else the config file's weights) "+
			"and converging with the bucket once NATS is back", "component", "routestate")
	}
	out, _, err := r.sync.Restore(specs)
	if err != nil {
		// An unreadable file must not keep the proxy down: the config
		// file's weights are the fallback the file exists to improve on.
		rt.log.Error("cannot read the last-known route state; serving the config file's weights", "component", "routestate", "err", err)
	}
	return r, out, nil
}

// open opens the bucket and takes every route's state from it.
func (r *routeState) open(ctx context.Context) ([]route.Spec, error) {
	store, err := routestate.Open(ctx, routestate.Config{JS: r.js, Logger: r.log})
	if err != nil {
		return nil, err
	}
	r.sync.SetStore(store)
	out, err := r.sync.Prepare(ctx, r.seeds)
	if err != nil {
		return nil, fmt.Errorf("route state: %w", err)
	}
	r.store = store
	return out, nil
}

// start attaches the proxy, mounts the operator API and runs the bucket
// watch, the counter publisher and the rollout controller — at once when
// the bucket answered at start-up, else once it does.
func (r *routeState) start(ctx context.Context, g *errgroup.Group, rt *proc, p routestate.Target) error {
	r.sync.Attach(p)
	h := r.handler()
	rt.admin.Handle("PUT /api/routes/{name}", h)
	rt.admin.Handle("POST /api/routes/{name}/{action}", h)
	rt.admin.Handle("GET /api/rollout", h)
	rt.admin.AddComponent("routestate", func(context.Context) error {
		if r.api.Load() == nil {
			return errors.New("route bucket not reachable since start-up: serving the last-known route state")
		}
		if !r.conn.IsConnected() {
			return errors.New("NATS unreachable: serving the last applied route state")
		}
		return nil
	})
	for _, rc := range rt.cfg.Proxy.Routes {
		if rc.Rollout == nil {
			continue
		}
		rt.admin.AddComponent("rollout", func(context.Context) error {
			if !r.conn.IsConnected() || r.api.Load() == nil {
				return errors.New(rollout.HoldReason)
			}
			return nil
		})
		break
	}
	if r.store != nil {
		return r.run(ctx, g, rt)
	}
	g.Go(func() error {
		if err := r.converge(ctx, rt); err != nil {
			return nil // ctx ended
		}
		return r.run(ctx, g, rt)
	})
	return nil
}

// converge opens the bucket once NATS is back and applies its state.
func (r *routeState) converge(ctx context.Context, rt *proc) error {
	b := backoff.New(backoff.Policy{Initial: time.Second, Max: 10 * time.Second})
	for {
		out, err := r.open(ctx)
		if err == nil {
			if err := r.sync.SetRoutes(r.seeds); err != nil { // applies out's weights (bucket wins)
				rt.log.Warn("cannot apply the bucket's route state yet", "component", "routestate", "err", err)
			} else {
				rt.log.Info("route state converged with the bucket", "component", "routestate", "routes", len(out))
				return nil
			}
		}
		if err := backoff.Wait(ctx, b.Next()); err != nil {
			return err
		}
	}
}

// run starts what needs the bucket: the watch, the operator API, the
// counter publisher and the rollout controller.
func (r *routeState) run(ctx context.Context, g *errgroup.Group, rt *proc) error {
	routes := rt.cfg.Proxy.Routes
	names := make([]string, len(routes))
	plans := map[string]rollout.Plan{}
	for i, rc := range routes {
		names[i] = rc.Name
		if rc.Rollout != nil {
			p, err := rolloutPlan(ctx, rt, rc.Name, *rc.Rollout)
			if err != nil {
				return err
			}
			plans[rc.Name] = p
		}
	}
	ntf, err := rolloutNotifier(routes, rt)
	if err != nil {
		return err
	}
	cc := rollout.ControllerConfig{
		Store: r.store, Conn: rt.bus.Conn, Plans: plans, Instance: r.instance, Registerer: rt.reg, Logger: rt.log,
	}
	board := rollout.NewGateBoard()
	ac := rollout.AdminConfig{
		Store: r.store, Routes: names, Plans: plans, Events: rt.bus.Conn, Instance: r.instance, Logger: rt.log, Gates: board,
	}
	if ntf != nil { // never a typed nil in the interface
		cc.Notify, ac.Notify = ntf, ntf
		g.Go(func() error { return ntf.Run(ctx) })
	}
	ctl, err := rollout.NewController(cc)
	if err != nil {
		return err
	}
	adm := rollout.NewAdmin(ac)
	h := adm.Handler()
	r.api.Store(&h)
	sc := rollout.StatsConfig{Gatherer: rt.reg, Conn: rt.bus.Conn, Instance: r.instance, Routes: names, Logger: rt.log}
	if r.shadow != nil {
		sc.Shadow = r.shadow.Snapshot
	}
	pub := rollout.NewStatsPublisher(sc)
	g.Go(func() error { return r.sync.Run(ctx) })
	if len(plans) > 0 {
		g.Go(func() error { return pub.Run(ctx) })
		g.Go(func() error { return ctl.Run(ctx) })
		g.Go(func() error {
			// Only GET /api/rollout's gates depend on it: not worth stopping for.
			if err := board.Run(ctx, rt.bus.Conn); err != nil {
				rt.log.Warn("cannot follow the rollout events: GET /api/rollout will show no gates", "component", "rollout", "err", err)
			}
			return nil
		})
	}
	return nil
}

// apiTimeout bounds an operator request that reaches the bucket: an admin
// write answers, it never hangs on NATS.
const apiTimeout = 5 * time.Second

// handler is the operator API in front of the bucket: 503 with the reason
// while the bucket is out of reach, instead of a request that hangs.
func (r *routeState) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		h := r.api.Load()
		reason := ""
		switch {
		case h == nil:
			reason = "route bucket " + routestate.Bucket + " not reachable since start-up (NATS unreachable): " +
				"route changes need it; the proxy serves its last-known route state"
		case !r.conn.IsConnected():
			reason = "NATS unreachable: route changes need the bucket " + routestate.Bucket +
				"; the proxy keeps serving its last applied route state"
		}
		if reason != "" {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": reason, "route": req.PathValue("name")})
			return
		}
		ctx, cancel := context.WithTimeout(req.Context(), apiTimeout)
		defer cancel()
		(*h).ServeHTTP(w, req.WithContext(ctx))
	})
}

// rolloutNotifier is the sender of rollout.notify, nil when no route has one.
func rolloutNotifier(routes []config.Route, rt *proc) (*notify.Notifier, error) {
	var targets []notify.Target
	for _, rc := range routes {
		if rc.Rollout == nil {
			continue
		}
		for _, t := range rc.Rollout.Notify {
			targets = append(targets, notify.Target{Route: rc.Name, URL: t.URL.Reveal(), Format: notify.Format(t.Format)})
		}
	}
	if len(targets) == 0 {
		return nil, nil
	}
	return notify.New(notify.Config{Targets: targets, Registerer: rt.reg, Logger: rt.log})
}

func rolloutPlan(ctx context.Context, rt *proc, route string, c config.Rollout) (rollout.Plan, error) {
	gs, err := rolloutGates(ctx, rt, c.Gates)
	if err != nil {
		return rollout.Plan{}, fmt.Errorf("route %q: %w", route, err)
	}
	p := rollout.Plan{
		Steps: c.Steps, Interval: c.Interval, MinRequests: uint64(c.MinRequests),
		MaxMismatchRate: c.MaxMismatchRate, MaxErrorRateDelta: c.MaxErrorRateDelta, MaxP99Ratio: c.MaxP99Ratio,
		OnFailure: rollout.OnFailure(c.OnFailure), ApproveAt: c.ApproveAt, Gates: gs,
	}
	if cw := c.CompleteWhen; cw != nil {
		p.Complete, p.CompleteTimeout = completeCheck(rt, route, *cw), cw.Timeout
	}
	return p, nil
}

// instanceID names this process in leases, reports and events: readable
// (host and pid) and unique across restarts (random suffix).
func instanceID() string {
	host, _ := os.Hostname()
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}
