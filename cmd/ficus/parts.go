package main

import (
	"context"
	"fmt"
	"net/url"

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
	allow := make([]forward.AllowRule, len(pc.Forward.Allow))
	for i, r := range pc.Forward.Allow {
		allow[i] = forward.AllowRule{Host: r.Host, Ports: r.Ports}
	}
	p, err := forward.New(forward.Config{
		Listen:         pc.Listen,
		Routes:         specs,
		MITM:           mitm,
		Allow:          allow,
		Self:           ownListeners(rt),
		ServedByHeader: pc.ServedByHeader,
		MaxHeaderBytes: int(pc.MaxHeaderBytes),
		Timeouts:       upstreamTimeouts(pc.Timeouts.Timeouts),
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

// ownListeners are ficus's listeners other than the proxy's, as bound:
// clients of the forward proxy must not reach them through it.
func ownListeners(rt *proc) []string {
	self := []string{rt.admin.Addr()}
	if rt.bus != nil && rt.bus.Embedded() {
		if u, err := url.Parse(rt.bus.ClientURL()); err == nil && u.Host != "" {
			self = append(self, u.Host)
		}
	}
	return self
}
