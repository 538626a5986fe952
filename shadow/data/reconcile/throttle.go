package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ficus-migrate/ficus/internal/backoff"
)

// Throttle makes a run gentle on a busy production database, in
// pt-table-checksum's manner. The zero value throttles nothing.
type Throttle struct {
	// MaxQuery, when set, sizes the first pass's ranges so that a
	// checksum query (the slower side's) takes about this long: ranges
	// start small and grow or shrink with the time the last ones took
	// (see sizer; for key tuples read from an index, tupleWalker). Later
	// passes only split ranges further.
	MaxQuery time.Duration
	// MaxThreadsRunning, when set: before each range, wait while a side's
	// server runs more queries than this, not counting this run's own
	// (MariaDB/MySQL: the Threads_running status; PostgreSQL: active
	// client backends in pg_stat_activity).
	MaxThreadsRunning int
	// MaxReplicaLag, when set: wait while a MariaDB/MySQL side that is a
	// replica is further behind its primary than this (SHOW SLAVE STATUS,
	// Seconds_Behind_Master; NULL, replication stopped, counts as over),
	// or while a PostgreSQL side's physical standbys replay further behind
	// (pg_stat_replication.replay_lag).
	MaxReplicaLag time.Duration
	// PauseFile, when set: wait while this file exists.
	PauseFile string
	// RateLimit, when set, is the most rows per second read from each
	// side (checksummed or fetched), averaged over the run: a range is
	// started only once the rows read so far are within the budget of the
	// time spent, and first-pass ranges hold about one second's budget.
	RateLimit float64
	// CheckEvery is how often, at most, the servers' load is read
	// (between ranges). Default: 250ms.
	CheckEvery time.Duration
	// Backoff spaces the checks while waiting. Default: 250ms growing to 5s.
	Backoff backoff.Policy
}

func (t Throttle) checksLoad() bool { return t.MaxThreadsRunning > 0 || t.MaxReplicaLag > 0 }

// Load is what a side's server says of its load.
type Load struct {
	// Running is how many queries the server runs, the one that read
	// Load not included.
	Running int
	// Replica is true when the lag applies: the server is a replica
	// (MariaDB/MySQL) or has standbys (PostgreSQL).
	Replica bool
	// Lag is the replica lag; LagUnknown says the server could not tell
	// (a replica whose replication is stopped).
	Lag        time.Duration
	LagUnknown bool
}

// LoadReader is a side that can read its server's load; both built-in
// sides are. A run with MaxThreadsRunning or MaxReplicaLag needs it of
// both sides.
type LoadReader interface {
	// Load reads the server's load; the replica lag only when lag is true
	// (it may need privileges the rest does not).
	Load(ctx context.Context, lag bool) (Load, error)
}

// gateSide is one side as the gate sees it.
type gateSide struct {
	name     string
	load     LoadReader
	inflight *atomic.Int64 // this run's queries running on the side
}

// gate is where every range waits before it starts: for the rate limit,
// and while a server is over a limit or the pause file exists. One
// worker checks at a time; the others queue behind it, so a pause holds
// every worker.
type gate struct {
	t     Throttle
	sides []gateSide
	log   *slog.Logger
	sleep func(context.Context, time.Duration) error

	mu      sync.Mutex // held by the worker checking or waiting
	checked time.Time  // last load check that found no reason to wait
	start   time.Time
	charged atomic.Int64 // rows read, for RateLimit

	state     sync.Mutex // for Progress, never held while waiting
	reason    string     // why the run is paused now, "" when not
	pausedFor time.Duration
	pauses    int64
	rateWait  time.Duration
}

func newGate(t Throttle, sides []gateSide, log *slog.Logger) (*gate, error) {
	if t.CheckEvery <= 0 {
		t.CheckEvery = 250 * time.Millisecond
	}
	if t.Backoff == (backoff.Policy{}) {
		t.Backoff = backoff.Policy{Initial: 250 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2, Jitter: 0.1}
	}
	if t.checksLoad() {
		for _, s := range sides {
			if s.load == nil {
				return nil, fmt.Errorf("reconcile: the %s side cannot read its server's load (max_threads_running, max_replica_lag)", s.name)
			}
		}
	}
	return &gate{t: t, sides: sides, log: log, sleep: backoff.Wait, start: time.Now()}, nil
}

// charge counts rows read from a side (the larger side's count of a range).
func (g *gate) charge(rows int64) { g.charged.Add(rows) }

// wait returns once the range may start.
func (g *gate) wait(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.waitRate(ctx); err != nil {
		return err
	}
	if g.t.PauseFile == "" && !g.t.checksLoad() {
		return nil
	}
	if time.Since(g.checked) < g.t.CheckEvery {
		return nil
	}
	b := backoff.New(g.t.Backoff)
	var since time.Time
	last := ""
	for {
		why, err := g.overLimit(ctx)
		if err != nil {
			return err
		}
		if why == "" {
			break
		}
		if since.IsZero() {
			since = time.Now()
			g.setPause(why, 0, 1)
		}
		if why != last {
			g.log.Warn("reconcile paused", "reason", why)
			last = why
			g.setPause(why, 0, 0)
		}
		if err := g.sleep(ctx, b.Next()); err != nil {
			g.setPause("", time.Since(since), 0)
			return err
		}
	}
	if !since.IsZero() {
		d := time.Since(since)
		g.setPause("", d, 0)
		g.log.Info("reconcile resumed", "paused", d.Round(time.Millisecond).String())
	}
	g.checked = time.Now()
	return nil
}

// waitRate sleeps until the rows charged so far fit the rate limit.
func (g *gate) waitRate(ctx context.Context) error {
	if g.t.RateLimit <= 0 {
		return nil
	}
	due := g.start.Add(time.Duration(float64(g.charged.Load()) / g.t.RateLimit * float64(time.Second)))
	d := time.Until(due)
	if d <= 0 {
		return nil
	}
	g.state.Lock()
	g.rateWait += d
	g.state.Unlock()
	return g.sleep(ctx, d)
}

// overLimit says why the run must wait now, or "".
func (g *gate) overLimit(ctx context.Context) (string, error) {
	if g.t.PauseFile != "" {
		if _, err := os.Stat(g.t.PauseFile); err == nil {
			return fmt.Sprintf("pause file %s exists", g.t.PauseFile), nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("reconcile: pause file: %w", err)
		}
	}
	if !g.t.checksLoad() {
		return "", nil
	}
	for _, s := range g.sides {
		l, err := s.load.Load(ctx, g.t.MaxReplicaLag > 0)
		if err != nil {
			return "", fmt.Errorf("reconcile: read the %s server's load: %w", s.name, err)
		}
		if why := overLoad(g.t, s.name, l, s.inflight.Load()); why != "" {
			return why, nil
		}
	}
	return "", nil
}

// overLoad says which limit l is over, or "". mine is how many of the
// running queries are this run's own.
func overLoad(t Throttle, side string, l Load, mine int64) string {
	if running := int64(l.Running) - mine; t.MaxThreadsRunning > 0 && running > int64(t.MaxThreadsRunning) {
		return fmt.Sprintf("%s: %d queries running (besides reconcile's own %d) > max_threads_running %d",
			side, running, mine, t.MaxThreadsRunning)
	}
	if t.MaxReplicaLag <= 0 || !l.Replica {
		return ""
	}
	if l.LagUnknown {
		return fmt.Sprintf("%s: replica lag unknown (replication stopped?)", side)
	}
	if l.Lag > t.MaxReplicaLag {
		return fmt.Sprintf("%s: replica lag %s > max_replica_lag %s", side, l.Lag.Round(time.Millisecond), t.MaxReplicaLag)
	}
	return ""
}

func (g *gate) setPause(reason string, add time.Duration, pauses int64) {
	g.state.Lock()
	defer g.state.Unlock()
	g.reason = reason
	g.pausedFor += add
	g.pauses += pauses
}

// status is the gate's part of Progress and Stats.
func (g *gate) status() (reason string, pausedFor, rateWait time.Duration, pauses int64) {
	g.state.Lock()
	defer g.state.Unlock()
	return g.reason, g.pausedFor, g.rateWait, g.pauses
}
