package routestate

import (
	"sync"
	"testing"

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
