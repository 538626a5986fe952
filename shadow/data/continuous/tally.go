package continuous

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// TallyPrefix + name is where every process running comparison name
// publishes its Tally each second (core NATS, not a stream: a lost message
// loses nothing, the next one carries the same cumulative counts). The
// rollout data gate sums them over a step.
const TallyPrefix = "ficus.datatally."

// Tally is one process's cumulative counts of one comparison since it
// started (Instance, Started): what a rollout gate needs to judge the data
// over a window, summed over every process sharing the comparison.
type Tally struct {
	Instance string    `json:"instance"`
	Started  time.Time `json:"started"`
	Name     string    `json:"name"`
	// Settled counts keys that reached a verdict: matched (their sides
	// agree again) or reported (a finding). Keys still waiting for max_lag
	// are not counted until they settle.
	Settled uint64 `json:"settled"`
	// Differs, MissingInNew, MissingInLegacy and DeletedOneSide count the
	// findings reported, by kind.
	Differs         uint64 `json:"differs"`
	MissingInNew    uint64 `json:"missing_in_new"`
	MissingInLegacy uint64 `json:"missing_in_legacy"`
	DeletedOneSide  uint64 `json:"deleted_on_one_side"`
	// Changes counts the changes compared; Behind counts them by how long
	// after their commit they were compared, per BehindBounds bucket (the
	// last one is above the highest bound).
	Changes uint64   `json:"changes"`
	Behind  []uint64 `json:"behind"`
	// Dropped and Errors: keys not tracked (pending set full) and changes
	// or findings that could not be processed.
	Dropped uint64 `json:"dropped"`
	Errors  uint64 `json:"errors"`
	// MaxLagSeconds is the comparison's max_lag: a finding comes this long
	// after its key's sides first disagreed.
	MaxLagSeconds float64 `json:"max_lag_seconds"`
}

// BehindBounds are the upper bounds (seconds) of Tally.Behind's buckets.
func BehindBounds() []float64 { return append([]float64(nil), lagBuckets...) }

// Since is t minus an earlier tally of the same process (zero counts when
// base is from another process run).
func (t Tally) Since(base Tally) Tally {
	if base.Instance != t.Instance || !base.Started.Equal(t.Started) {
		base = Tally{}
	}
	d := t
	d.Settled = sub(t.Settled, base.Settled)
	d.Differs = sub(t.Differs, base.Differs)
	d.MissingInNew = sub(t.MissingInNew, base.MissingInNew)
	d.MissingInLegacy = sub(t.MissingInLegacy, base.MissingInLegacy)
	d.DeletedOneSide = sub(t.DeletedOneSide, base.DeletedOneSide)
	d.Changes = sub(t.Changes, base.Changes)
	d.Dropped = sub(t.Dropped, base.Dropped)
	d.Errors = sub(t.Errors, base.Errors)
	d.Behind = make([]uint64, len(t.Behind))
	for i := range t.Behind {
		var b uint64
		if i < len(base.Behind) {
			b = base.Behind[i]
		}
		d.Behind[i] = sub(t.Behind[i], b)
	}
	return d
}

// Add sums another process's counts into t.
func (t *Tally) Add(o Tally) {
	t.Settled += o.Settled
	t.Differs += o.Differs
	t.MissingInNew += o.MissingInNew
	t.MissingInLegacy += o.MissingInLegacy
	t.DeletedOneSide += o.DeletedOneSide
	t.Changes += o.Changes
	t.Dropped += o.Dropped
	t.Errors += o.Errors
	t.MaxLagSeconds = max(t.MaxLagSeconds, o.MaxLagSeconds)
	if len(t.Behind) < len(o.Behind) {
		t.Behind = append(t.Behind, make([]uint64, len(o.Behind)-len(t.Behind))...)
	}
	for i, n := range o.Behind {
		t.Behind[i] += n
	}
}

// Missing is the findings of a row present on one side only.
func (t Tally) Missing() uint64 { return t.MissingInNew + t.MissingInLegacy + t.DeletedOneSide }

// BehindQuantile estimates quantile q of how long after their commit the
// changes were compared, as the upper bound of its bucket (the highest
// bound when it is above all of them); 0 without changes.
func (t Tally) BehindQuantile(q float64) float64 {
	h := hist{counts: make([]int64, len(lagBuckets)+1)}
	for i, n := range t.Behind {
		if i < len(h.counts) {
			h.counts[i] = int64(n)
		}
	}
	h.max = lagBuckets[len(lagBuckets)-1]
	return h.quantile(q)
}

func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

// tallies are the counts behind Tally, kept apart from the API's figures:
// a recovered state is a key seen, never a key settled now.
type tallies struct {
	mu     sync.Mutex
	t      Tally
	behind []uint64
}

func (ts *tallies) settle(kind string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.t.Settled++
	switch kind {
	case KindDiffers:
		ts.t.Differs++
	case KindMissingInNew:
		ts.t.MissingInNew++
	case KindMissingInLegacy:
		ts.t.MissingInLegacy++
	case KindDeletedOneSide:
		ts.t.DeletedOneSide++
	}
}

func (ts *tallies) change(behind float64) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.behind == nil {
		ts.behind = make([]uint64, len(lagBuckets)+1)
	}
	ts.t.Changes++
	ts.behind[bucketOf(behind)]++
}

// Tally returns this comparer's cumulative counts.
func (c *Comparer) Tally(instance string, started time.Time) Tally {
	c.tally.mu.Lock()
	t := c.tally.t
	t.Behind = append([]uint64(nil), c.tally.behind...)
	c.tally.mu.Unlock()
	c.figs.mu.Lock()
	t.Dropped, t.Errors = uint64(c.figs.nDropped), uint64(c.figs.nErrors)
	c.figs.mu.Unlock()
	t.Instance, t.Started, t.Name, t.MaxLagSeconds = instance, started, c.cfg.Name, c.cfg.MaxLag.Seconds()
	return t
}

// TallyConfig configures PublishTallies.
type TallyConfig struct {
	Conn      *nats.Conn
	Instance  string
	Comparers []*Comparer
	// Every is the publishing interval [1s].
	Every  time.Duration
	Logger *slog.Logger
}

// PublishTallies publishes every comparer's Tally on TallyPrefix+name each
// interval until ctx ends.
func PublishTallies(ctx context.Context, cfg TallyConfig) {
	if cfg.Every <= 0 {
		cfg.Every = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	started := time.Now().UTC()
	t := time.NewTicker(cfg.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, c := range cfg.Comparers {
			b, err := json.Marshal(c.Tally(cfg.Instance, started))
			if err == nil {
				err = cfg.Conn.Publish(TallyPrefix+c.Name(), b)
			}
			if err != nil {
				cfg.Logger.Debug("cannot publish the data tally", "component", "data", "compare", c.Name(), "err", err)
			}
		}
	}
}
