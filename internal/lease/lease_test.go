package lease

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/testenv"
)

type store struct{ kv jetstream.KeyValue }

func openStore(t *testing.T) store {
	t.Helper()
	n := testenv.MustStartNATS(t)
	js, err := jetstream.New(n.Connect(t))
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: "leases"})
	if err != nil {
		t.Fatal(err)
	}
	return store{kv}
}

func (s store) NewLease(key, holder string, ttl time.Duration) *Lease {
	return New(s.kv, key, holder, ttl)
}

func (s store) LeaseHolder(ctx context.Context, key string) string { return Holder(ctx, s.kv, key) }

// One holder at a time; a silent holder is replaced after the TTL, a
// released lease is taken at once, and the old holder knows it lost.
func TestLease(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	const ttl = 400 * time.Millisecond
	a, b := s.NewLease("r", "a", ttl), s.NewLease("r", "b", ttl)
	now := time.Now()
	if !a.Tick(ctx, now) || b.Tick(ctx, now) {
		t.Fatal("want a to take the free lease and b to be refused")
	}
	for i := range 10 { // a renews every TTL/4: b never gets it
		now = now.Add(ttl / 4)
		if !a.Tick(ctx, now) || b.Tick(ctx, now) {
			t.Fatalf("tick %d: a renewing, yet b holds or a lost", i)
		}
	}
	if got := s.LeaseHolder(ctx, "r"); got != "a" {
		t.Fatalf("holder = %q, want a", got)
	}
	// a falls silent: b takes over only after a whole TTL of silence.
	var took time.Duration
	for d := ttl / 4; d <= 3*ttl; d += ttl / 4 {
		if b.Tick(ctx, now.Add(d)) {
			took = d
			break
		}
	}
	if took < ttl || took > ttl+ttl/2 {
		t.Fatalf("b took the lease %v after a fell silent, want between TTL and 1.5 TTL", took)
	}
	now = now.Add(took)
	if a.Held(now) || a.Tick(ctx, now) {
		t.Fatal("a still believes it holds the lease")
	}
	b.Release(ctx)
	if !a.Tick(ctx, now) {
		t.Fatal("a did not take a released lease at once")
	}
}

// A renewal that fails (its write timed out: a slow or vanishing NATS) does
// not cost the holder its own lease: it still holds it until the expiry of
// its last landed renewal (no contender can take it before a whole TTL), and
// the next tick renews at once instead of waiting a whole TTL for the
// holder's own silence, which stalled a rollout for the TTL after every slow
// write. A renewal refused because somebody else wrote the key ends it.
func TestLeaseSurvivesAFailedRenewal(t *testing.T) {
	s := openStore(t)
	const ttl = 30 * time.Second
	a, b := s.NewLease("r", "a", ttl), s.NewLease("r", "b", ttl)
	now := time.Now()
	if !a.Tick(t.Context(), now) {
		t.Fatal("a did not take the free lease")
	}
	expired, cancel := context.WithCancel(t.Context())
	cancel()
	rev := a.rev
	if !a.write(expired, now.Add(ttl/4), rev, false) {
		t.Fatal("a failed renewal cost the holder its lease before its expiry")
	}
	if a.Held(now.Add(ttl/2)) || !a.Expiry().Equal(now.Add(ttl/2)) {
		t.Fatalf("after a failed renewal: held past the last landed renewal's expiry (%v)", a.Expiry())
	}
	if !a.Tick(t.Context(), now.Add(ttl/2)) {
		t.Fatal("a lost its own lease to a failed renewal")
	}
	if b.Tick(t.Context(), now.Add(ttl/2)) {
		t.Fatal("b took a lease a holds")
	}
	// A conflict: the key was written by another since (here an older
	// revision is offered, as if b had written in between).
	if a.write(t.Context(), now.Add(ttl/2), rev, false) || a.Held(now.Add(ttl/2)) {
		t.Fatal("a renewal refused by a conflict left the lease held")
	}
}

// Seen names the holder a contender met, and Expiry is when the holder stops
// acting without a renewal: half a TTL after its last one, well before a
// contender may take over.
func TestSeenAndExpiry(t *testing.T) {
	s := openStore(t)
	const ttl = 10 * time.Second
	a, b := s.NewLease("r", "a", ttl), s.NewLease("r", "b", ttl)
	now := time.Now()
	if !b.Expiry().IsZero() || b.Seen() != "" {
		t.Fatalf("before any tick: expiry %v, seen %q", b.Expiry(), b.Seen())
	}
	if !a.Tick(t.Context(), now) {
		t.Fatal("a did not take the free lease")
	}
	if b.Tick(t.Context(), now) || b.Seen() != "a" || a.Seen() != "a" {
		t.Fatalf("seen by b %q, by a %q; want a", b.Seen(), a.Seen())
	}
	if got, want := a.Expiry(), now.Add(ttl/2); !got.Equal(want) {
		t.Fatalf("expiry %v, want %v", got, want)
	}
	if !a.Held(a.Expiry().Add(-time.Nanosecond)) || a.Held(a.Expiry()) {
		t.Fatal("Held disagrees with Expiry")
	}
	a.Release(t.Context())
	if !a.Expiry().IsZero() {
		t.Fatal("a released lease still has an expiry")
	}
}
