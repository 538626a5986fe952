package main

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/ficus-migrate/ficus/capture"
	cjs "github.com/ficus-migrate/ficus/capture/jetstream"
	"github.com/ficus-migrate/ficus/cmd/ficus/config"
	"github.com/ficus-migrate/ficus/plugins/builtin"
	"github.com/ficus-migrate/ficus/plugins/host"
	"github.com/ficus-migrate/ficus/plugins/sdk"
)

// pluginSet holds the running plugins by name.
type pluginSet map[string]*host.Plugin

// startPlugins starts every configured plugin, so that a missing executable,
// a wrong checksum or a protocol mismatch stops ficus at start with a clear
// message. Each plugin gets a /readyz check (plugin.<name>) that fails once
// it has failed for good; the processes are stopped when ctx ends.
func startPlugins(ctx context.Context, g *errgroup.Group, rt *proc) (pluginSet, error) {
	set := pluginSet{}
	if len(rt.cfg.Plugins) == 0 {
		return set, nil
	}
	met, err := host.NewMetrics(rt.reg)
	if err != nil {
		return nil, err
	}
	for i, pc := range rt.cfg.Plugins {
		env := make(map[string]string, len(pc.Env))
		for k, v := range pc.Env {
			env[k] = v.Reveal()
		}
		p, err := host.New(host.Config{
			Name: pc.Name, Path: pc.Path, Args: pc.Args, Env: env, SHA256: pc.SHA256,
			CallTimeout: pc.Timeout, Logger: rt.log, Metrics: met,
		})
		if err != nil {
			set.close()
			return nil, fmt.Errorf("plugins[%d]: %w", i, err)
		}
		set[pc.Name] = p
		if err := p.Start(ctx); err != nil {
			set.close()
			return nil, fmt.Errorf("plugins[%d]: %w", i, err)
		}
		rt.admin.AddCheck("plugin."+pc.Name, func(context.Context) error { return p.Err() })
	}
	g.Go(func() error {
		<-ctx.Done()
		set.close()
		return nil
	})
	rt.log.Info("plugins started", "count", len(set))
	return set, nil
}

func (s pluginSet) close() {
	for _, p := range s {
		p.Close()
	}
}

// transform is the capture transform of a source: nil (publish as captured)
// without transforms, else the chain of its plugins. A plugin failed for
// good stops the source (a permanent error) rather than letting its events
// through untransformed.
func (s pluginSet) transform(src config.Source) cjs.Transformer {
	if len(src.Transforms) == 0 {
		return nil
	}
	chain := make(builtin.Chain, 0, len(src.Transforms))
	for _, name := range src.Transforms {
		chain = append(chain, s[name].Transformer())
	}
	return permanentOnFailure{chain}
}

type permanentOnFailure struct{ t sdk.Transformer }

func (p permanentOnFailure) Transform(ctx context.Context, source string, batch []sdk.Event) ([]sdk.Event, error) {
	out, err := p.t.Transform(ctx, source, batch)
	if errors.Is(err, host.ErrFailed) {
		err = capture.Permanent(err)
	}
	return out, err
}
