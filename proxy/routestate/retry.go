package routestate

import (
	"context"
	"log/slog"
	"time"

	"github.com/ficus-migrate/ficus/internal/backoff"
)

// startupRetry bounds how long start-up calls keep retrying: a NATS
// cluster that has just come up (or lost a node) answers "no response
// from stream" or times out until the bucket's stream has a leader.
const startupRetry = 30 * time.Second

// retry calls fn until it succeeds, ctx ends or startupRetry passes,
// backing off from 100 ms to 2 s; it returns fn's last error.
func retry(ctx context.Context, log *slog.Logger, what string, fn func(context.Context) error) error {
	deadline := time.Now().Add(startupRetry)
	b := backoff.New(backoff.Policy{Initial: 100 * time.Millisecond, Max: 2 * time.Second})
	for {
		err := fn(ctx)
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		wait := b.Next()
		log.Warn("route bucket not available yet; retrying", "what", what, "err", err, "in", wait)
		if backoff.Wait(ctx, wait) != nil {
			return err
		}
	}
}
