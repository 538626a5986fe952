package capture

import (
	"context"
	"log/slog"
	"time"

	"github.com/ficus-migrate/ficus/internal/backoff"
)

// RunWithRetry calls once until ctx ends (then it returns nil) or once fails with a
// permanent error (returned). Any other failure — a database or NATS outage, a
// failed publish — is retried with jittered exponential backoff between lo and
// hi; a run that lasted a while resets the backoff. Sources resume from their
// durable position on each call, so a retry never loses or reorders changes.
func RunWithRetry(ctx context.Context, log *slog.Logger, lo, hi time.Duration, once func(context.Context) error) error {
	b := backoff.New(backoff.Policy{Initial: lo, Max: hi, Jitter: 0.5})
	for {
		started := time.Now()
		err := once(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if IsPermanent(err) {
			log.Error("capture stopped", "err", err)
			return err
		}
		if time.Since(started) > 2*hi {
			b.Reset()
		}
		wait := b.Next()
		log.Warn("capture interrupted; retrying", "err", err, "retry_in", wait)
		if backoff.Wait(ctx, wait) != nil {
			return nil
		}
	}
}
