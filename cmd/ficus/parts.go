package main

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/ficus-migrate/ficus/proxy/forward"
)

// startForwardProxy runs proxy.mode: forward — the legacy app's HTTP_PROXY.
func startForwardProxy(ctx context.Context, g *errgroup.Group, rt *proc) error {
	pc := rt.cfg.Proxy
	specs, err := routeSpecs(pc.Routes)
	if err != nil {
		return err
	}
	var mitm *forward.MITMConfig
	if pc.MITM.Enabled() {
		mitm = &forward.MITMConfig{CACert: pc.MITM.CACert, CAKey: pc.MITM.CAKey, Hosts: pc.MITM.Hosts}
	}
	p, err := forward.New(forward.Config{
		Listen:         pc.Listen,
		Routes:         specs,
		MITM:           mitm,
		ServedByHeader: pc.ServedByHeader,
		MaxHeaderBytes: int(pc.MaxHeaderBytes),
		Timeouts:       upstreamTimeouts(pc.Timeouts),
		Logger:         rt.log,
		Registerer:     rt.reg,
	})
	if err != nil {
		return err
	}
	rt.admin.AddCheck("proxy", func(context.Context) error {
		select {
		case <-p.Ready():
			return nil
		default:
			return fmt.Errorf("forward proxy not listening yet on %s", pc.Listen)
		}
	})
	g.Go(func() error { return p.Run(ctx) })
	g.Go(func() error { return watchConfig(ctx, rt, p) })
	return nil
}
