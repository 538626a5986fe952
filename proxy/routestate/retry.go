package routestate

import (
	"context"
	"log/slog"
	"time"
)

// startupRetry bounds how long start-up calls keep retrying: a NATS
// cluster that has just come up (or lost a node) answers "no response
// from stream" or times out until the bucket's stream has a leader.
const startupRetry = 30 * time.Second

// retry calls fn until it succeeds, ctx ends or startupRetry passes,
// backing off from 100 ms to 2 s; it returns fn's last error.
func retry(ctx context.Context, log *slog.Logger, what string, fn func(context.Context) error) error {
	deadline := time.Now().Add(startupRetry)
	wait := 100 * time.Millisecond
	for {
		err := fn(ctx)
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		log.Warn("route bucket not available yet; retrying", "what", what, "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(wait*2, 2*time.Second)
	}
}
