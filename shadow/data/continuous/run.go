package continuous

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Limits of a running comparison. None changes what is reported, only how
// much is held or in flight, so they are not configuration.
const (
	// FindingsMaxAge is how long FICUS_DATA keeps a finding: a week of
	// running side by side can still be reported on (ficus report).
	FindingsMaxAge = 7 * 24 * time.Hour
	// MaxAckPending bounds the messages of one side's consumer delivered
	// and not yet acknowledged (a message is acknowledged once its key's
	// state is stored): what is in flight between the stream and the
	// bucket, waiting in the event loop and in the workers' queues.
	MaxAckPending = 1024
	// eventBuffer is how many messages, of both sides together, may wait
	// for the dispatch loop.
	eventBuffer = 256
	// workerQueue is how many jobs may wait for one worker before the
	// dispatch loop waits for it (which holds back every other key).
	workerQueue = 64
)

// event is one change from either side, handed to the single loop that
// orders the work.
type event struct {
	legacy bool
	msg    jetstream.Msg
}

// job is a decoded change (msg, when set, is acknowledged once it is
// stored), or a due key to judge (sweep), for the worker that owns the key.
type job struct {
	key    Key
	legacy bool
	msg    jetstream.Msg
	change change
	sweep  bool
	now    time.Time
	// done, when set, is told once the job is handled (a truncate's
	// deletes: its message is acknowledged after all of them).
	done *sync.WaitGroup
}

// Run consumes both sides until ctx ends. Both consumers are durable, so a
// restarted ficus continues where it stopped; a message is acknowledged
// only after the key's state is stored.
//
// Run sets up the bucket and the findings stream (setup), starts both
// consumers (startConsumers) and the workers that own the keys
// (startWorkers), then one loop (dispatch) decodes every change and hands
// it to its key's worker, and every Config.Sweep hands over the keys whose
// max_lag has passed (sweep).
func (c *Comparer) Run(ctx context.Context) error {
	if err := c.setup(ctx); err != nil {
		return err
	}
	// Consumers and workers stop when Run returns.
	bg, stop := context.WithCancel(ctx)
	defer stop()
	events := make(chan event, eventBuffer)
	errs := make(chan error, 2) // one per consumer: never blocks
	if err := c.startConsumers(bg, events, errs); err != nil {
		return err
	}
	pool := c.startWorkers(bg)
	c.query = queryState{}
	refreshers := c.startRefreshers(bg, func(j job) { pool.route(bg, j) })
	defer func() {
		stop()            // the workers' bucket calls end now, not after their queues
		refreshers.Wait() // they route to the workers: done before the queues close
		pool.close()
	}()
	return c.dispatch(ctx, events, errs, pool)
}

// setup opens the state bucket, rebuilds the figures and the pending keys
// from it (once per process), and makes sure the findings stream exists.
func (c *Comparer) setup(ctx context.Context) error {
	kv, err := c.cfg.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      StateBucket(c.cfg.Name),
		Description: "ficus compare_data " + c.cfg.Name + ": latest state per key of both sides",
		History:     1,
	})
	if err != nil {
		return fmt.Errorf("state bucket: %w", err)
	}
	c.kv = kv
	if !c.recovered {
		// Once per process: a Run retried after a failure keeps what this
		// process already counted.
		if err := c.recover(ctx); err != nil {
			return err
		}
		c.recovered = true
	}
	if _, err := c.cfg.JS.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:     FindingsStream,
		Subjects: []string{SubjectPrefix + ">"},
		MaxAge:   FindingsMaxAge,
	}); err != nil {
		return fmt.Errorf("stream %s: %w", FindingsStream, err)
	}
	return nil
}

// durableName is the durable consumer of one side ("legacy" or "new"):
// ficus_data_<name>_<side>, shared by every ficus running the comparison.
func durableName(name, side string) string {
	return "ficus_data_" + strings.ReplaceAll(name, "-", "_") + "_" + side
}

// startConsumers creates both sides' durable consumers and feeds their
// messages into events until ctx ends; a consumer that stops sends why
// (nil once ctx ends) to errs.
func (c *Comparer) startConsumers(ctx context.Context, events chan<- event, errs chan<- error) error {
	for _, side := range []struct {
		name   string
		legacy bool
		s      Side
	}{{"legacy", true, c.cfg.Legacy}, {"new", false, c.cfg.New}} {
		cc := jetstream.ConsumerConfig{
			Durable:       durableName(c.cfg.Name, side.name),
			FilterSubject: side.s.Subject,
			AckPolicy:     jetstream.AckExplicitPolicy,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			MaxAckPending: MaxAckPending,
		}
		if side.s.Query != nil {
			cc.FilterSubject, cc.FilterSubjects = "", side.s.Query.subjects()
		}
		cons, err := c.cfg.JS.CreateOrUpdateConsumer(ctx, side.s.Stream, cc)
		if err != nil {
			return fmt.Errorf("%s consumer on %s: %w", side.name, side.s.Stream, err)
		}
		go func() { errs <- consume(ctx, cons, side.legacy, events) }()
	}
	return nil
}

// consume feeds one side's messages into events until ctx ends.
func consume(ctx context.Context, cons jetstream.Consumer, legacy bool, events chan<- event) error {
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		it.Stop()
	}()
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return ctx.Err()
			}
			return err
		}
		select {
		case events <- event{legacy: legacy, msg: m}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// workerPool spreads keys over Config.Workers workers by key, so the
// bucket round trips of different keys overlap while each key's changes
// stay in order and only its own worker ever touches its state.
type workerPool struct {
	queues []chan job
	wg     sync.WaitGroup
}

// startWorkers starts the workers; each keeps its own share of
// Config.CacheKeys and works until its queue is closed (see close).
func (c *Comparer) startWorkers(ctx context.Context) *workerPool {
	p := &workerPool{queues: make([]chan job, c.cfg.Workers)}
	for i := range p.queues {
		p.queues[i] = make(chan job, workerQueue)
		cache := newStateCache(c.cfg.CacheKeys / c.cfg.Workers)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			c.work(ctx, p.queues[i], cache)
		}()
	}
	return p
}

// work handles one worker's jobs in order.
func (c *Comparer) work(ctx context.Context, jobs <-chan job, cache *stateCache) {
	for j := range jobs {
		if j.sweep {
			c.sweepKey(ctx, j.key, j.now, cache)
		} else if err := c.apply(ctx, j, cache); err != nil {
			c.log.Warn("change not compared", "err", err)
			c.figs.count(&c.figs.nErrors, c.figs.errors)
		}
		if j.done != nil {
			j.done.Done()
		}
	}
}

// route hands j to the worker that owns its key, or drops it once ctx
// ends (its message, unacknowledged, is redelivered).
func (p *workerPool) route(ctx context.Context, j job) {
	select {
	case p.queues[j.key.worker(len(p.queues))] <- j:
	case <-ctx.Done():
		if j.done != nil {
			j.done.Done()
		}
	}
}

// close stops the workers once they have handled what is queued, and
// waits for them.
func (p *workerPool) close() {
	for _, q := range p.queues {
		close(q)
	}
	p.wg.Wait()
}

// dispatch is the one loop that orders the work: it decodes each change
// and routes it, and every Config.Sweep routes the keys due, until ctx
// ends or a consumer stops.
func (c *Comparer) dispatch(ctx context.Context, events <-chan event, errs <-chan error, pool *workerPool) error {
	route := func(j job) { pool.route(ctx, j) }
	tick := time.NewTicker(c.cfg.Sweep)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errs:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		case e := <-events:
			c.dispatchEvent(ctx, e, route)
		case now := <-tick.C:
			c.flushQuery(ctx, 0)
			c.flushQuery(ctx, 1)
			c.sweep(now, route)
		}
	}
}

// dispatchEvent decodes one message and routes what it changes: nothing
// (acknowledged at once), one key, the key a change moved from and the one
// it moved to, or every key of a truncated side.
func (c *Comparer) dispatchEvent(ctx context.Context, e event, route func(job)) {
	side := &c.cfg.Legacy
	if !e.legacy {
		side = &c.cfg.New
	}
	if side.Query != nil {
		c.dispatchQuery(ctx, e, side)
		return
	}
	ch, err := decode(e.msg.Data(), side, c.cfg.Kinds, c.cfg.KeyKinds)
	if md, mdErr := e.msg.Metadata(); mdErr == nil {
		ch.seq = md.Sequence.Stream
	}
	switch {
	case errors.Is(err, errSkip):
		_ = e.msg.Ack()
	case err != nil:
		_ = e.msg.Term() // a malformed event will not improve on redelivery
		c.log.Warn("change not compared", "err", err)
		c.figs.count(&c.figs.nErrors, c.figs.errors)
	case ch.truncate:
		if err := c.truncate(ctx, e.legacy, e.msg, ch, route); err != nil {
			_ = e.msg.Nak()
			c.log.Warn("truncate not compared; redelivered", "err", err)
			c.figs.count(&c.figs.nErrors, c.figs.errors)
		}
	default:
		if ch.movedFrom != nil {
			// The old key is deleted on this side (its job has no
			// message to acknowledge), then the new key is written.
			gone := change{key: *ch.movedFrom, deleted: true, atMs: ch.atMs, seq: ch.seq}
			route(job{key: gone.key, legacy: e.legacy, change: gone})
		}
		route(job{key: ch.key, legacy: e.legacy, msg: e.msg, change: ch})
	}
}

// sweep routes the keys whose max_lag has passed by now to their workers,
// to be judged (sweepKey). While NATS is unreachable it holds: the changes
// that would settle a key cannot arrive, so a key judged then would be a
// false finding. Once NATS is back every waiting key gets a full max_lag
// again, the time the captures need to deliver what they held back.
func (c *Comparer) sweep(now time.Time, route func(job)) {
	if !c.cfg.JS.Conn().IsConnected() {
		if c.heldSince.IsZero() {
			c.heldSince = now
			c.log.Warn("data comparison holds", "reason", HoldReason, "pending", c.pending.len())
		}
		return
	}
	if !c.heldSince.IsZero() {
		n := c.pending.postpone(now.Add(c.cfg.MaxLag))
		c.log.Info("NATS is back: every waiting key gets a full max_lag again",
			"outage", now.Sub(c.heldSince).Round(time.Millisecond), "keys", n, "max_lag", c.cfg.MaxLag)
		c.heldSince = time.Time{}
	}
	for _, key := range c.pending.due(now) {
		route(job{key: key, now: now, sweep: true})
	}
}
