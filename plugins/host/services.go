package host

import (
	"context"
	"errors"
	"fmt"

	"github.com/ficus-migrate/ficus/plugins/internal/wire"
)

// This file holds the supervised services: each call goes through
// Plugin.call (timeout, restart, retry).

// Transformer returns the plugin's Transformer; calls go through the
// supervisor (timeout, restart, retry).
func (p *Plugin) Transformer() wire.Transformer { return supervisedTransformer{p} }

// Comparator returns the plugin's Comparator, supervised likewise.
func (p *Plugin) Comparator() wire.Comparator { return supervisedComparator{p} }

// RowComparator returns the plugin's RowComparator, supervised likewise.
// Judge (see NewJudge) batches concurrent callers on top of it.
func (p *Plugin) RowComparator() wire.RowComparator { return supervisedRowComparator{p} }

type supervisedTransformer struct{ p *Plugin }

func (s supervisedTransformer) Transform(ctx context.Context, source string, batch []wire.Event) ([]wire.Event, error) {
	var out []wire.Event
	err := s.p.call(ctx, "transform", func(ctx context.Context, in *instance) error {
		var err error
		out, err = in.tr.Transform(ctx, source, batch)
		return err
	})
	return out, err
}

type supervisedComparator struct{ p *Plugin }

func (s supervisedComparator) Compare(ctx context.Context, pairs []wire.Pair) ([]wire.Result, error) {
	var out []wire.Result
	err := s.p.call(ctx, "compare", func(ctx context.Context, in *instance) error {
		var err error
		out, err = in.cmp.Compare(ctx, pairs)
		return err
	})
	return out, err
}

type supervisedRowComparator struct{ p *Plugin }

func (s supervisedRowComparator) CompareRows(ctx context.Context, comparison string, legacyColumns, newColumns []string,
	pairs []wire.RowPair) ([]wire.Judgement, error) {
	var out []wire.Judgement
	err := s.p.call(ctx, "compare_rows", func(ctx context.Context, in *instance) error {
		var err error
		out, err = in.rows.CompareRows(ctx, comparison, legacyColumns, newColumns, pairs)
		return err
	})
	return out, err
}

// CheckRowComparator asks the plugin, with an empty batch, whether it
// serves the RowComparator service (compare_data[].plugin): nil when it
// does, an error wrapping ErrUnimplemented when it does not. Unlike a real
// call to a missing service, the answer does not fail the plugin: it may
// serve other parts still. A crash or a timeout is retried as usual.
func (p *Plugin) CheckRowComparator(ctx context.Context) error {
	var missing bool
	err := p.call(ctx, "compare_rows", func(ctx context.Context, in *instance) error {
		_, err := in.rows.CompareRows(ctx, "", nil, nil, nil)
		if errors.Is(err, wire.ErrUnimplemented) {
			missing = true
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	if missing {
		return fmt.Errorf("plugin %s does not serve row comparison (service RowComparator of plugins/proto/plugin.proto; "+
			"a Go plugin serves it with sdk.Plugins{RowComparator: ...}): %w", p.cfg.Name, ErrUnimplemented)
	}
	return nil
}
