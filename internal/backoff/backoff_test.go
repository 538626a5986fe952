package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

const ms = time.Millisecond

func TestDelayGrowsToTheCap(t *testing.T) {
	p := Policy{Initial: 100 * ms, Max: 2 * time.Second}
	want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 2 * time.Second, 2 * time.Second}
	for i, w := range want {
		if got := p.Delay(i + 1); got != w {
			t.Errorf("Delay(%d) = %v, want %v", i+1, got, w)
		}
	}
	if got := p.Delay(0); got != 100*ms {
		t.Errorf("Delay(0) = %v, want the initial wait", got)
	}
	if got := p.Delay(1 << 30); got != 2*time.Second {
		t.Errorf("Delay(2^30) = %v, want the cap (no overflow)", got)
	}
}

func TestDelayEdges(t *testing.T) {
	for _, c := range []struct {
		name string
		p    Policy
		n    int
		want time.Duration
	}{
		{"multiplier 1.5", Policy{Initial: 100 * ms, Max: time.Second, Multiplier: 1.5}, 3, 225 * ms},
		{"multiplier below 1 is constant", Policy{Initial: 100 * ms, Max: time.Second, Multiplier: 0.5}, 5, 100 * ms},
		{"max below initial is initial", Policy{Initial: time.Second, Max: 10 * ms}, 3, time.Second},
		{"no max", Policy{Initial: time.Second}, 4, time.Second},
		{"zero policy retries at once", Policy{}, 3, 0},
		{"huge multiplier", Policy{Initial: time.Second, Max: time.Hour, Multiplier: 1e300}, 2, time.Hour},
	} {
		if got := c.p.Delay(c.n); got != c.want {
			t.Errorf("%s: Delay(%d) = %v, want %v", c.name, c.n, got, c.want)
		}
	}
}

func TestJitterStaysInRange(t *testing.T) {
	p := Policy{Initial: 100 * ms, Max: 400 * ms, Jitter: 0.5}
	for n, d := range map[int]time.Duration{1: 100 * ms, 3: 400 * ms, 9: 400 * ms} {
		seen := map[time.Duration]bool{}
		for range 1000 {
			got := p.Delay(n)
			if got < d/2 || got > d {
				t.Fatalf("Delay(%d) = %v, want within [%v, %v]", n, got, d/2, d)
			}
			seen[got] = true
		}
		if len(seen) < 100 {
			t.Errorf("Delay(%d): %d distinct waits in 1000, want them spread", n, len(seen))
		}
	}
	full := Policy{Initial: 100 * ms, Jitter: 7} // taken as 1
	for range 1000 {
		if got := full.Delay(1); got < 0 || got > 100*ms {
			t.Fatalf("full jitter: %v, want within [0, 100ms]", got)
		}
	}
}

func TestNextAndReset(t *testing.T) {
	b := New(Policy{Initial: 10 * ms, Max: 35 * ms})
	for i, w := range []time.Duration{10 * ms, 20 * ms, 35 * ms, 35 * ms} {
		if got := b.Next(); got != w {
			t.Errorf("Next #%d = %v, want %v", i+1, got, w)
		}
	}
	b.Reset()
	if got := b.Next(); got != 10*ms {
		t.Errorf("Next after Reset = %v, want 10ms", got)
	}
}

func TestWaitEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*ms, cancel)
	start := time.Now()
	err := Wait(ctx, time.Hour)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("Wait returned after %v, want at once after the cancel", el)
	}
	// Already ended: no wait at all, whatever d.
	start = time.Now()
	if err := Wait(ctx, time.Hour); !errors.Is(err, context.Canceled) || time.Since(start) > time.Second {
		t.Errorf("ended ctx: err = %v after %v", err, time.Since(start))
	}
	if err := Wait(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("ended ctx, zero wait: err = %v", err)
	}
}

func TestWaitWaits(t *testing.T) {
	start := time.Now()
	if err := Wait(context.Background(), 30*ms); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 30*ms {
		t.Errorf("Wait returned after %v, want 30ms", el)
	}
	if err := Wait(context.Background(), -time.Second); err != nil {
		t.Errorf("negative wait: %v", err)
	}
}
