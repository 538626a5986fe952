// Package backoff spaces out retries: waits that grow exponentially from an
// initial delay up to a cap, optionally jittered, and a wait that ends as
// soon as its context does.
//
// A retry loop keeps its own policy on what to retry, what to log and when
// to give up; this package only says how long to wait and waits.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy is an exponential backoff. The zero Policy retries at once.
type Policy struct {
	// Initial is the wait before the first retry.
	Initial time.Duration
	// Max caps the wait; below Initial it is taken as Initial.
	Max time.Duration
	// Multiplier grows the wait after each retry [2]; below 1 it is taken
	// as 1 (a constant wait).
	Multiplier float64
	// Jitter is the fraction of each wait drawn at random, from 0 (none)
	// to 1: a wait d becomes d*(1-Jitter) plus a random part of d*Jitter,
	// so it never exceeds d. Processes that lost the same server then do
	// not all come back in step.
	Jitter float64
}

// Delay is the wait before retry n, counting from 1: Initial times
// Multiplier^(n-1), capped at Max, then jittered. An n below 1 counts as 1.
func (p Policy) Delay(n int) time.Duration {
	hi := max(p.Max, p.Initial)
	m := p.Multiplier
	switch {
	case m == 0:
		m = 2
	case m < 1:
		m = 1
	}
	d := p.Initial
	for i := 1; i < n && d < hi && m > 1; i++ {
		// Compared in float64 so that a long run of failures cannot
		// overflow the Duration.
		next := float64(d) * m
		if next >= float64(hi) {
			d = hi
			break
		}
		d = time.Duration(next)
	}
	d = min(d, hi)
	if j := time.Duration(float64(d) * min(max(p.Jitter, 0), 1)); j > 0 {
		d = d - j + rand.N(j+1)
	}
	return max(d, 0)
}

// Backoff follows a Policy through one retry loop.
type Backoff struct {
	policy  Policy
	retries int
}

// New starts a Backoff at the policy's Initial wait.
func New(p Policy) *Backoff { return &Backoff{policy: p} }

// Next is the wait before the next retry; each call moves one step on.
func (b *Backoff) Next() time.Duration {
	b.retries++
	return b.policy.Delay(b.retries)
}

// Reset starts again from the Initial wait (after a success, say).
func (b *Backoff) Reset() { b.retries = 0 }

// Wait waits d, or less when ctx ends first: it then returns ctx.Err() at
// once, so a retry loop never holds up a shutdown.
func Wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
