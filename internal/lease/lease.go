// Package lease is one process's claim on one job shared by several processes
// (a route's rollout controller, a capture source's reader), kept as a key of
// a JetStream key-value bucket. It needs no synchronised clocks: the holder
// rewrites the key every TTL/4 (its revision changes), and a contender takes
// the key over, by compare-and-set on the revision it saw, only after that
// revision stayed the same for a whole TTL on the contender's own clock.
// The holder considers itself holding only while its last renewal is less
// than TTL/2 old, so a holder cut off from NATS stops acting well before
// anybody else can start.
package lease

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Lease is one process's claim on one key. Tick, Held, Seen and Release are
// called from one goroutine.
type Lease struct {
	kv     jetstream.KeyValue
	key    string
	holder string
	ttl    time.Duration

	rev       uint64    // revision of our last write, 0 when not holding
	renewedAt time.Time // when that write succeeded
	// unsure is set when our last renewal failed without a conflict (it
	// timed out: it may even have landed): nobody else can have taken the
	// key since renewedAt, so the lease is still ours until it expires.
	unsure  bool
	seenRev uint64 // another holder's revision we are timing
	seenAt  time.Time
	seen    string // the holder named by the key at the last Tick that read it
}

type value struct {
	Holder string `json:"holder"`
}

// New prepares a lease on key of kv for holder (a process instance id).
func New(kv jetstream.KeyValue, key, holder string, ttl time.Duration) *Lease {
	return &Lease{kv: kv, key: key, holder: holder, ttl: ttl}
}

// Holder returns who holds key ("" when free or unknown).
func Holder(ctx context.Context, kv jetstream.KeyValue, key string) string {
	e, err := kv.Get(ctx, key)
	if err != nil {
		return ""
	}
	var v value
	_ = json.Unmarshal(e.Value(), &v)
	return v.Holder
}

// Tick renews or tries to take the lease; call it about every TTL/4. It
// reports whether this process holds the lease now.
func (l *Lease) Tick(ctx context.Context, now time.Time) bool {
	e, err := l.kv.Get(ctx, l.key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		l.seen = ""
		return l.write(ctx, now, 0, true)
	case err != nil:
		return l.Held(now)
	}
	var v value
	_ = json.Unmarshal(e.Value(), &v) // garbage counts as another holder
	l.seen = v.Holder
	rev := e.Revision()
	if e.Operation() != jetstream.KeyValuePut || v.Holder == "" {
		return l.write(ctx, now, rev, false) // released
	}
	if v.Holder == l.holder {
		// Ours: renew. Also when this process lost track of its revision
		// (a renewal failed while NATS was away, or succeeded unseen): the
		// record still names it, so nobody took over, and waiting a whole
		// TTL for its own silence would stall the job.
		return l.write(ctx, now, rev, false)
	}
	l.rev, l.unsure = 0, false
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
	b, _ := json.Marshal(value{Holder: l.holder})
	var err error
	var next uint64
	if create {
		next, err = l.kv.Create(ctx, l.key, b)
	} else {
		next, err = l.kv.Update(ctx, l.key, b, rev)
	}
	if err != nil {
		// A conflict means somebody else wrote the key: not ours. Any other
		// failure leaves the lease ours until its expiry (a contender waits
		// a whole TTL from our last landed write), so a single slow write
		// does not stop the holder's work.
		l.unsure = (l.rev != 0 || l.unsure) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) &&
			!errors.Is(err, jetstream.ErrKeyExists)
		l.rev = 0
		return l.Held(now)
	}
	l.rev, l.renewedAt, l.seen, l.unsure = next, now, l.holder, false
	return true
}

// Held reports whether the lease is held and fresh enough to act on.
func (l *Lease) Held(now time.Time) bool {
	return (l.rev != 0 || l.unsure) && now.Sub(l.renewedAt) < l.ttl/2
}

// Expiry is when Held turns false unless a renewal succeeds first (the zero
// time when not holding). A holder acting on the lease stops by then.
func (l *Lease) Expiry() time.Time {
	if l.rev == 0 && !l.unsure {
		return time.Time{}
	}
	return l.renewedAt.Add(l.ttl / 2)
}

// Seen is the holder the key named at the last Tick that could read it: this
// process, another one, or "" when free or not read yet.
func (l *Lease) Seen() string { return l.seen }

// Release gives the lease up so that another process takes over at once.
func (l *Lease) Release(ctx context.Context) {
	if l.rev == 0 {
		l.unsure = false // no revision to compare with: it expires instead
		return
	}
	b, _ := json.Marshal(value{})
	_, _ = l.kv.Update(ctx, l.key, b, l.rev)
	l.rev, l.unsure, l.seen = 0, false, ""
}
