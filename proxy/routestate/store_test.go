package routestate

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/testenv"
)

func openStore(t *testing.T) *Store {
	t.Helper()
	n := testenv.MustStartNATS(t)
	js, err := jetstream.New(n.Connect(t))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.Context(), Config{JS: js})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Seeding never overwrites, and concurrent read-modify-writes lose nothing.
func TestSeedAndCompareAndSet(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	if ok, err := s.Seed(ctx, "r", State{Weight: 10, Step: -1}); !ok || err != nil {
		t.Fatalf("first seed: %v %v", ok, err)
	}
	if ok, err := s.Seed(ctx, "r", State{Weight: 99}); ok || err != nil {
		t.Fatalf("second seed overwrote: %v %v", ok, err)
	}
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				if _, err := s.Update(ctx, "r", func(st State) (State, error) { st.Weight++; return st, nil }); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	st, _, err := s.Get(ctx, "r")
	if err != nil || st.Weight != 60 {
		t.Fatalf("weight after 50 concurrent increments from 10: %v (%v)", st.Weight, err)
	}
	if _, err := s.Update(ctx, "r", func(st State) (State, error) { return st, ErrSkip }); err != ErrSkip {
		t.Fatalf("skip: %v", err)
	}
}

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
// not cost the holder its own lease: the next tick renews at once instead of
// waiting a whole TTL for the holder's own silence, which stalled a rollout
// for the TTL after every slow write.
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
	if a.write(expired, now.Add(ttl/4), a.rev, false) {
		t.Fatal("a renewal with an expired context succeeded")
	}
	if !a.Tick(t.Context(), now.Add(ttl/2)) {
		t.Fatal("a lost its own lease to a failed renewal")
	}
	if b.Tick(t.Context(), now.Add(ttl/2)) {
		t.Fatal("b took a lease a holds")
	}
}
