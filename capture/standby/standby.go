// Package standby runs a capture source only while this process holds the
// source's lease, so that two or more processes with the same source config
// form a hot standby: one streams, the others wait, and when the active one
// dies a standby takes over from the confirmed position.
//
// The lease is the key "<source>.lease" of the checkpoint bucket (see
// internal/lease): the holder renews it every TTL/4, a standby takes it over
// after its revision stayed unchanged for a whole TTL. The holder stops
// streaming as soon as its last landed renewal is TTL/2 old (fencing), well
// before any standby may start; a renewal that merely timed out does not stop
// it before then. Whatever a deposed holder still had in flight carries the
// same Nats-Msg-Id as the new holder's replay from the confirmed position, so
// the stream's duplicate window drops it: no change is lost and none is
// published twice with different content.
package standby

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/capture/sink"
	"github.com/ficus-migrate/ficus/internal/backoff"
	"github.com/ficus-migrate/ficus/internal/lease"
)

// DefaultLeaseTTL is how long a silent holder keeps a source: a standby takes
// over between TTL and TTL*1.25 after the holder's last renewal.
const DefaultLeaseTTL = 5 * time.Second

// Config configures the standby runner of one source.
type Config struct {
	Source   string // source name, required
	Instance string // this process in the lease, required and unique
	// JS, Bucket and Replicas locate the checkpoint bucket the lease lives in
	// [sink.DefaultCheckpointStore].
	JS       jetstream.JetStream
	Bucket   string
	Replicas int
	// LeaseTTL [DefaultLeaseTTL].
	LeaseTTL time.Duration
	// Confirmed is the source's confirmed position, shown in State.
	Confirmed  *capture.Confirmed
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// State is what this process knows of its capture of the source.
type State struct {
	Active   bool   `json:"active"`
	Instance string `json:"instance"`
	// Holder is the instance holding the lease, as last read ("" unknown).
	Holder string `json:"holder"`
	// ConfirmedPosition is the last position this process confirmed; empty
	// on a standby that has not streamed yet.
	ConfirmedPosition string `json:"confirmed_position"`
}

// Standby wraps a source; it is itself a capture.Source.
type Standby struct {
	cfg    Config
	src    capture.Source
	log    *slog.Logger
	active prometheus.Gauge

	mu     sync.Mutex
	on     bool
	holder string
}

var _ capture.Source = (*Standby)(nil)

// New wraps src.
func New(cfg Config, src capture.Source) (*Standby, error) {
	if cfg.Source == "" || cfg.Instance == "" || cfg.JS == nil || src == nil {
		return nil, errors.New("standby: Source, Instance, JS and the source are required")
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m, err := capture.NewMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", cfg.Source, err)
	}
	s := &Standby{cfg: cfg, src: src, active: m.Active.WithLabelValues(cfg.Source),
		log: cfg.Logger.With("component", "capture.standby", "source", cfg.Source, "instance", cfg.Instance)}
	s.active.Set(0)
	return s, nil
}

// LeaseKey is the checkpoint bucket key of a source's lease.
func LeaseKey(source string) string { return source + ".lease" }

// State reports whether this process streams the source now.
func (s *Standby) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return State{Active: s.on, Instance: s.cfg.Instance, Holder: s.holder, ConfirmedPosition: s.cfg.Confirmed.Get()}
}

// running is the wrapped source while this process holds the lease.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

// Run takes part in the election until ctx ends (then it releases the lease
// so a standby takes over at once, and returns nil) or the wrapped source
// fails for good (its error is returned, after the lease is released).
func (s *Standby) Run(ctx context.Context) error {
	kv, err := s.open(ctx)
	if err != nil {
		return nil // ctx ended
	}
	ttl := s.cfg.LeaseTTL
	l := lease.New(kv, LeaseKey(s.cfg.Source), s.cfg.Instance, ttl)
	var cur *running
	defer func() {
		if cur != nil {
			s.stop(cur)
		}
		rel, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		l.Release(rel)
		cancel()
	}()
	tick := time.NewTicker(ttl / 4)
	defer tick.Stop()
	fence := time.NewTimer(time.Hour)
	defer fence.Stop()
	for {
		// The renewal's own deadline keeps a hanging NATS from delaying
		// the fencing check below past the lease's expiry.
		tctx, cancel := context.WithTimeout(ctx, ttl/4)
		held := l.Tick(tctx, time.Now())
		cancel()
		s.setHolder(l.Seen())
		switch {
		case held && cur == nil:
			s.log.Info("took the lease: streaming", "lease_ttl", ttl.String())
			cur = s.start(ctx)
		case !held && cur != nil:
			s.log.Warn("lost the lease: stopped streaming, standing by", "holder", l.Seen())
			s.stop(cur)
			cur = nil
		}
		var done chan error
		if cur != nil {
			done = cur.done
			fence.Reset(time.Until(l.Expiry()))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-fence.C:
			// The renewal is overdue: stop now, before any standby may
			// start; the next tick may renew and start again.
			if cur != nil && !l.Held(time.Now()) {
				s.log.Warn("lease renewal overdue: stopped streaming", "expired", l.Expiry())
				s.stop(cur)
				cur = nil
			}
		case err := <-done:
			// The source ended by itself: a permanent error. A standby
			// with the same config would meet it too, but the lease is
			// released so one may try (the cause may be this host's).
			cur = nil
			s.setActive(false)
			if err == nil {
				err = errors.New("capture source stopped")
			}
			return err
		}
	}
}

// open opens the checkpoint bucket, retrying with backoff while NATS is not
// there; it fails only when ctx ends.
func (s *Standby) open(ctx context.Context) (jetstream.KeyValue, error) {
	b := backoff.New(backoff.Policy{Initial: s.cfg.LeaseTTL / 4, Max: 4 * s.cfg.LeaseTTL, Jitter: 0.5})
	for {
		octx, cancel := context.WithTimeout(ctx, s.cfg.LeaseTTL)
		cps, err := sink.OpenCheckpoints(octx, s.cfg.JS, s.cfg.Bucket, s.cfg.Replicas)
		cancel()
		if err == nil {
			return cps.KV(), nil
		}
		wait := b.Next()
		s.log.Warn("cannot open the lease bucket yet; standing by", "err", err, "retry_in", wait)
		if err := backoff.Wait(ctx, wait); err != nil {
			return nil, err
		}
	}
}

func (s *Standby) start(ctx context.Context) *running {
	rctx, cancel := context.WithCancel(ctx)
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.src.Run(rctx) }()
	s.setActive(true)
	return r
}

// stop ends the source and waits for it: it reads nothing more from the
// database and publishes nothing new once its context ends (what it already
// sent is only awaited, for its acknowledgements).
func (s *Standby) stop(r *running) {
	s.setActive(false)
	r.cancel()
	if err := <-r.done; err != nil {
		// It failed as it was stopped; the next holder meets the cause
		// itself if it is the source's and not this process's.
		s.log.Warn("capture source ended with an error as it stopped", "err", err)
	}
}

func (s *Standby) setActive(on bool) {
	s.mu.Lock()
	s.on = on
	s.mu.Unlock()
	if on {
		s.active.Set(1)
	} else {
		s.active.Set(0)
	}
}

func (s *Standby) setHolder(h string) {
	s.mu.Lock()
	s.holder = h
	s.mu.Unlock()
}
