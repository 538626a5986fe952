package bus

import (
	"context"
	"sync/atomic"
	"time"
)

// PublishLoop is the publishing half of a bounded record queue (the shadow
// mismatch records, the traffic recording): the producers never block, and
// one goroutine publishes what they queued to a stream that may not exist
// yet when ficus starts (NATS away).
type PublishLoop[T any] struct {
	// Queue is what the producers filled.
	Queue <-chan T
	// Ready is set once the stream is known to exist; while it is not,
	// Ensure is tried every RetryEvery [5s], and OnReady called once it
	// succeeds.
	Ready      *atomic.Bool
	Ensure     func(context.Context) error
	OnReady    func()
	RetryEvery time.Duration
	// Publish sends one item; it bounds its own wait.
	Publish func(context.Context, T)
}

// Run publishes queued items until ctx ends, then publishes what is still
// queued (with a context that ctx's end does not cancel, so Publish's own
// bound applies) and returns nil.
func (p PublishLoop[T]) Run(ctx context.Context) error {
	every := p.RetryEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	retry := time.NewTicker(every)
	defer retry.Stop()
	for {
		select {
		case <-retry.C:
			if !p.Ready.Load() && p.Ensure(ctx) == nil {
				p.Ready.Store(true)
				if p.OnReady != nil {
					p.OnReady()
				}
			}
		case it := <-p.Queue:
			pctx := ctx
			if ctx.Err() != nil { // select chose the queue over ctx's end: drain it as below
				pctx = context.WithoutCancel(ctx)
			}
			p.Publish(pctx, it)
		case <-ctx.Done():
			for {
				select {
				case it := <-p.Queue:
					p.Publish(context.WithoutCancel(ctx), it)
				default:
					return nil
				}
			}
		}
	}
}
