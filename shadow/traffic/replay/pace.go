package replay

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Clock is the time the pacing reads and waits on; tests give a fake one.
type Clock interface {
	Now() time.Time
	// Sleep waits d, or until ctx ends (its error then).
	Sleep(ctx context.Context, d time.Duration) error
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Pace says how fast requests are sent: at most Rate a second, or at
// Speed times the recorded pace (the gaps between recorded requests
// divided by Speed); neither set sends as fast as Concurrency allows.
type Pace struct {
	Rate  float64
	Speed float64
}

// ParseRate reads "200/s", "50/m" or "200" (a second).
func ParseRate(s string) (float64, error) {
	n, unit, _ := strings.Cut(strings.TrimSpace(s), "/")
	v, err := strconv.ParseFloat(n, 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("rate %q: want a positive number of requests per second such as 200/s", s)
	}
	switch unit {
	case "", "s":
		return v, nil
	case "m":
		return v / 60, nil
	case "h":
		return v / 3600, nil
	}
	return 0, fmt.Errorf("rate %q: unit must be /s, /m or /h", s)
}

// ParseSpeed reads "2x" or "0.5x" ("2" too).
func ParseSpeed(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "x"), 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("speed %q: want a positive multiple such as 2x", s)
	}
	return v, nil
}

// pacer hands out send times. Each send's time is derived from where it
// is in the schedule, never from when the previous send happened, so a
// slow moment is made up and the average rate holds exactly: the n-th send
// (from 0) of a rate is due at start + n/rate; of a speed, at start + (its
// recorded time - the first's) / speed.
type pacer struct {
	pace  Pace
	clock Clock
	first time.Time // recorded time of the first exchange

	mu    sync.Mutex
	start time.Time
	n     int
}

func newPacer(p Pace, c Clock, first time.Time) *pacer {
	return &pacer{pace: p, clock: c, first: first}
}

// wait blocks until the next send is due; recorded is the exchange's
// recorded time.
func (p *pacer) wait(ctx context.Context, recorded time.Time) error {
	if p.pace.Rate <= 0 && p.pace.Speed <= 0 {
		return ctx.Err()
	}
	p.mu.Lock()
	if p.start.IsZero() {
		p.start = p.clock.Now()
	}
	var due time.Time
	if p.pace.Rate > 0 {
		due = p.start.Add(time.Duration(float64(p.n) / p.pace.Rate * float64(time.Second)))
	} else {
		due = p.start.Add(time.Duration(float64(recorded.Sub(p.first)) / p.pace.Speed))
	}
	p.n++
	p.mu.Unlock()
	return p.clock.Sleep(ctx, due.Sub(p.clock.Now()))
}
