// Package builtin holds the in-process transforms. They implement the same
// interfaces as plugins (plugins/api) so that the default path never crosses
// a process boundary.
package builtin

import (
	"context"

	"github.com/ficus-migrate/ficus/plugins/api"
)

// Noop is the identity transform.
type Noop struct{}

var _ api.Transformer = Noop{}

// Transform returns the batch unchanged.
func (Noop) Transform(_ context.Context, _ string, batch []api.Event) ([]api.Event, error) {
	return batch, nil
}

// Chain applies transforms in order, as capture.sources[].transforms lists them.
type Chain []api.Transformer

var _ api.Transformer = Chain(nil)

// Transform runs each transform on the output of the previous one.
func (c Chain) Transform(ctx context.Context, source string, batch []api.Event) ([]api.Event, error) {
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
