package capture

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"
)

// RunWithRetry calls once until ctx ends (then it returns nil) or once fails with a
// permanent error (returned). Any other failure — a database or NATS outage, a
// failed publish — is retried with jittered exponential backoff between lo and
// hi; a run that lasted a while resets the backoff. Sources resume from their
// durable position on each call, so a retry never loses or reorders changes.
func RunWithRetry(ctx context.Context, log *slog.Logger, lo, hi time.Duration, once func(context.Context) error) error {
	backoff := lo
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
			backoff = lo
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		log.Warn("capture interrupted; retrying", "err", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, hi)
	}
}
