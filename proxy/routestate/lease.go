package routestate

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Lease is one process's claim on the controller of one route, kept in the
// bucket under lease.<route>. It needs no synchronised clocks: the holder
// rewrites the key every TTL/4 (its revision changes), and a contender takes
// the key over, by compare-and-set on the revision it saw, only after that
// revision stayed the same for a whole TTL on the contender's own clock.
// The holder considers itself holding only while its last renewal is less
// than TTL/2 old, so a holder cut off from NATS stops acting well before
// anybody else can start.
type Lease struct {
	kv     jetstream.KeyValue
	key    string
	holder string
	ttl    time.Duration

	rev       uint64    // revision of our last write, 0 when not holding
	renewedAt time.Time // when that write succeeded
	seenRev   uint64    // another holder's revision we are timing
	seenAt    time.Time
}

type leaseValue struct {
	Holder string `json:"holder"`
}

// NewLease prepares a lease on route for holder (a process instance id).
func (s *Store) NewLease(route, holder string, ttl time.Duration) *Lease {
	return &Lease{kv: s.kv, key: leasePrefix + route, holder: holder, ttl: ttl}
}

// LeaseHolder returns who holds a route's lease ("" when free or unknown).
func (s *Store) LeaseHolder(ctx context.Context, route string) string {
	e, err := s.kv.Get(ctx, leasePrefix+route)
	if err != nil {
		return ""
	}
	var v leaseValue
	_ = json.Unmarshal(e.Value(), &v)
	return v.Holder
}

// Tick renews or tries to take the lease; call it about every TTL/4. It
// reports whether this process holds the lease now.
func (l *Lease) Tick(ctx context.Context, now time.Time) bool {
	e, err := l.kv.Get(ctx, l.key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return l.write(ctx, now, 0, true)
	case err != nil:
		return l.Held(now)
	}
	var v leaseValue
	_ = json.Unmarshal(e.Value(), &v) // garbage counts as another holder
	rev := e.Revision()
	if e.Operation() != jetstream.KeyValuePut || v.Holder == "" {
		return l.write(ctx, now, rev, false) // released
	}
	if v.Holder == l.holder {
		// Ours: renew. Also when this process lost track of its revision
		// (a renewal failed while NATS was away, or succeeded unseen): the
		// record still names it, so nobody took over, and waiting a whole
		// TTL for its own silence would stall the route's rollout.
		return l.write(ctx, now, rev, false)
	}
	l.rev = 0
	if rev != l.seenRev {
		l.seenRev, l.seenAt = rev, now
		return false
	}
	if now.Sub(l.seenAt) < l.ttl {
		return false
	}
	return l.write(ctx, now, rev, false) // the holder stopped renewing
}

func (l *Lease) write(ctx context.Context, now time.Time, rev uint64, create bool) bool {
	b, _ := json.Marshal(leaseValue{Holder: l.holder})
	var err error
	var next uint64
	if create {
		next, err = l.kv.Create(ctx, l.key, b)
	} else {
		next, err = l.kv.Update(ctx, l.key, b, rev)
	}
	if err != nil {
		l.rev = 0
		return false
	}
	l.rev, l.renewedAt = next, now
	return true
}

// Held reports whether the lease is held and fresh enough to act on.
func (l *Lease) Held(now time.Time) bool {
	return l.rev != 0 && now.Sub(l.renewedAt) < l.ttl/2
}

// Release gives the lease up so that another process takes over at once.
func (l *Lease) Release(ctx context.Context) {
	if l.rev == 0 {
		return
	}
	b, _ := json.Marshal(leaseValue{})
	_, _ = l.kv.Update(ctx, l.key, b, l.rev)
	l.rev = 0
}
