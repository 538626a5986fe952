package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/capture/sink"
	"github.com/ficus-migrate/ficus/internal/config"
	"github.com/ficus-migrate/ficus/plugins/builtin"
	"github.com/ficus-migrate/ficus/plugins/host"
	"github.com/ficus-migrate/ficus/plugins/sdk"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// pluginSet holds the running plugins by name.
type pluginSet map[string]*host.Plugin

// startPlugins starts every configured plugin, so that a missing executable,
// a wrong checksum or a protocol mismatch stops ficus at start with a clear
// message. Each plugin gets a /readyz check (plugin.<name>) that fails once
// it has failed for good; the processes are stopped when ctx ends.
func startPlugins(ctx context.Context, g *errgroup.Group, rt *proc) (pluginSet, error) {
	if len(rt.cfg.Plugins) == 0 {
		return pluginSet{}, nil
	}
	met, err := host.NewMetrics(rt.reg)
	if err != nil {
		return nil, err
	}
	set, err := launchPlugins(ctx, rt.cfg.Plugins, nil, rt.log, met)
	if err != nil {
		return nil, err
	}
	for _, pc := range rt.cfg.Plugins {
		p := set[pc.Name]
		rt.partCheck("plugin."+pc.Name, func(context.Context) error { return p.Err() })
	}
	g.Go(func() error {
		<-ctx.Done()
		set.close()
		return nil
	})
	rt.log.Info("plugins started", "count", len(set))
	return set, nil
}

// launchPlugins starts the configured plugins that only names (all when
// nil); on an error it stops those already started. ficus run and ficus
// reconcile share it.
func launchPlugins(ctx context.Context, plugins []config.Plugin, only []string, log *slog.Logger, met *host.Metrics) (pluginSet, error) {
	set := pluginSet{}
	for i, pc := range plugins {
		if only != nil && !slices.Contains(only, pc.Name) {
			continue
		}
		env := make(map[string]string, len(pc.Env))
		for k, v := range pc.Env {
			env[k] = v.Reveal()
		}
		p, err := host.New(host.Config{
			Name: pc.Name, Path: pc.Path, Args: pc.Args, Env: env, SHA256: pc.SHA256,
			CallTimeout: pc.Timeout, Logger: log, Metrics: met,
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
	}
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
func (s pluginSet) transform(src config.Source) sink.Transformer {
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

// judge is the Judge of compare_data entry i: nil without a plugin, else
// batching calls to the entry's plugin, once the plugin has shown at start
// that it serves row comparison (a plugin that does not stops ficus here,
// rather than failing the first differing key).
func (s pluginSet) judge(ctx context.Context, i int, cd *config.CompareData) (canon.Judge, error) {
	if cd.Plugin == "" {
		return nil, nil
	}
	p := s[cd.Plugin]
	if p == nil {
		return nil, fmt.Errorf("compare_data[%d] (%s): no plugin named %q in plugins", i, cd.Name, cd.Plugin)
	}
	if err := p.CheckRowComparator(ctx); err != nil {
		return nil, fmt.Errorf("compare_data[%d] (%s): %w", i, cd.Name, err)
	}
	return host.NewJudge(p, host.JudgeConfig{}), nil
}
