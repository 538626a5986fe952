// Package builtin holds the in-process transforms and comparators. They
// implement the same interfaces as plugins (plugins/sdk) so that the default
// path never crosses a process boundary.
package builtin

import (
	"context"

	"github.com/ficus-migrate/ficus/plugins/sdk"
)

// Noop is the identity transform.
type Noop struct{}

var (
	_ sdk.Transformer = Noop{}
	_ sdk.Comparator  = Passthrough{}
)

// Transform returns the batch unchanged.
func (Noop) Transform(_ context.Context, _ string, batch []sdk.Event) ([]sdk.Event, error) {
	return batch, nil
}

// Passthrough is the default comparator: it leaves every pair to the
// structural diff.
type Passthrough struct{}

// Compare returns VerdictDiff with each pair unchanged.
func (Passthrough) Compare(_ context.Context, pairs []sdk.Pair) ([]sdk.Result, error) {
	out := make([]sdk.Result, len(pairs))
	for i, p := range pairs {
		out[i] = sdk.Result{Pair: p, Verdict: sdk.VerdictDiff}
	}
	return out, nil
}

// Chain applies transforms in order, as capture.sources[].transforms lists them.
type Chain []sdk.Transformer

// Transform runs each transform on the output of the previous one.
func (c Chain) Transform(ctx context.Context, source string, batch []sdk.Event) ([]sdk.Event, error) {
	var err error
	for _, t := range c {
		if batch, err = t.Transform(ctx, source, batch); err != nil {
			return nil, err
		}
		if len(batch) == 0 {
			break
		}
	}
	return batch, nil
}
