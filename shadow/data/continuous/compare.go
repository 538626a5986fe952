package continuous

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ficus-migrate/ficus/internal/backoff"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// FindingsStream is the JetStream stream of findings; subjects are
// ficus.data.<name>.
const FindingsStream = "FICUS_DATA"

// SubjectPrefix starts every findings subject.
const SubjectPrefix = "ficus.data."

// Config configures one continuous comparison.
type Config struct {
	// Name is the comparison's name (compare_data[].name).
	Name string
	// Legacy and New are the two tables' change streams.
	Legacy, New Side
	// Kinds say how each column pair is compared (see reconcile.Kinds).
	Kinds []canon.Kind
	// KeyKinds say how each key column is compared (see
	// reconcile.KeyKinds): nil for a key of one integer column on both
	// sides, whose Key is the integer; otherwise Key is the JSON array of
	// the key columns' canonical texts.
	KeyKinds []canon.Kind
	// MaxLag is how long the sides may disagree before a key is reported.
	MaxLag time.Duration
	// JS reaches JetStream: the capture streams, the state bucket and
	// FICUS_DATA.
	JS jetstream.JetStream
	// MaxPending bounds the keys waiting for max_lag to pass; beyond it a
	// disagreeing key is counted as dropped and checked again on its next
	// change. Default: DefaultMaxPending.
	MaxPending int
	// Workers is how many keys are compared at once (each key always by
	// the same worker): the bucket round trips of different keys overlap.
	// Default: DefaultWorkers.
	Workers int
	// CacheKeys bounds the key states kept in memory (spread over the
	// workers) to spare reading the bucket before writing it. Default:
	// DefaultCacheKeys.
	CacheKeys int
	// Sweep is how often due keys are checked. Default: DefaultSweep.
	Sweep time.Duration
	// Judge, when set, has the last word on a key whose canonical values
	// still differ at max_lag (the entry's comparator plugin): it may call
	// the rows equal, or name the differing columns and why.
	Judge      canon.Judge
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Defaults of the Config fields left zero.
const (
	// DefaultMaxPending keys may wait for max_lag at once; the bound is
	// the memory of the pending set, which lives outside the bucket.
	DefaultMaxPending = 1_000_000
	// DefaultWorkers compare keys at once, each with at most one bucket
	// round trip in flight (ficusbench datacompare measures what they
	// sustain).
	DefaultWorkers = 128
	// DefaultCacheKeys key states are kept in memory, so a key changed
	// again soon is not read back from the bucket.
	DefaultCacheKeys = 100_000
	// DefaultSweep is how often due keys are checked: a key is reported
	// at most about this long after its max_lag has passed.
	DefaultSweep = 250 * time.Millisecond
)

// Comparer runs one continuous comparison; see Run.
type Comparer struct {
	cfg     Config
	log     *slog.Logger
	kv      jetstream.KeyValue
	figs    *figures
	tally   tallies
	pending *pendingSet
	trail   trailing
	// recovered is set once the bucket has been read (see recover).
	recovered bool
	// query batches the changed keys of query sides (see query.go).
	query queryState
	// heldSince is when the sweep began to hold for a NATS outage (zero
	// when not holding); only the dispatch goroutine touches it.
	heldSince time.Time
}

// HoldReason is why no key is reported while NATS is unreachable.
const HoldReason = "NATS unreachable: no key is reported while change events cannot arrive; " +
	"every waiting key gets a full max_lag once NATS is back"

// StateBucket is the key-value bucket holding the latest state per key of
// comparison name.
func StateBucket(name string) string { return "ficus_data_" + strings.ReplaceAll(name, "-", "_") }

// New checks cfg and registers the comparison's metrics.
func New(cfg Config) (*Comparer, error) {
	if cfg.Name == "" || cfg.JS == nil {
		return nil, errors.New("compare_data: need a name and JetStream")
	}
	if len(cfg.Legacy.Columns) != len(cfg.New.Columns) || len(cfg.Kinds) != len(cfg.Legacy.Columns) {
		return nil, fmt.Errorf("compare_data %s: %d legacy columns, %d new columns, %d kinds", cfg.Name,
			len(cfg.Legacy.Columns), len(cfg.New.Columns), len(cfg.Kinds))
	}
	if cfg.MaxLag <= 0 {
		return nil, fmt.Errorf("compare_data %s: max_lag must be > 0", cfg.Name)
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.CacheKeys <= 0 {
		cfg.CacheKeys = DefaultCacheKeys
	}
	if cfg.Sweep <= 0 {
		cfg.Sweep = DefaultSweep
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	figs, err := newFigures(cfg.Name, cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Comparer{cfg: cfg, log: cfg.Logger.With("component", "data", "compare", cfg.Name),
		figs: figs, pending: newPendingSet(cfg.MaxPending)}, nil
}

// apply stores one change and re-judges its key. A conflict or an error of
// the bucket is retried here rather than by redelivery, which could put an
// older change of the key after a newer one.
func (c *Comparer) apply(ctx context.Context, j job, cache *stateCache) error {
	var err error
	mode := assumeNewOnMiss
	if j.change.truncated {
		mode = readOnMiss // only keys the side holds are deleted: look
	}
	for attempt := 0; attempt < 4; attempt++ {
		if err = c.applyOnce(ctx, j, cache, mode); err == nil {
			if j.msg == nil {
				return nil
			}
			return j.msg.Ack()
		}
		if ctx.Err() != nil {
			return err
		}
		if mode == assumeNewOnMiss && errors.Is(err, jetstream.ErrKeyExists) {
			mode = readOnMiss // not new after all: read it, no pause
			continue
		}
		mode = readOnMiss
		// A short linear pause: a bucket conflict clears in milliseconds.
		if backoff.Wait(ctx, time.Duration(attempt+1)*50*time.Millisecond) != nil {
			return err
		}
	}
	if j.msg != nil {
		_ = j.msg.Nak()
	}
	return err
}

func (c *Comparer) applyOnce(ctx context.Context, j job, cache *stateCache, mode loadMode) error {
	ch := j.change
	k, rev, err := c.load(ctx, ch.key, cache, mode)
	if err != nil {
		return err
	}
	if ch.truncated && ((j.legacy && !k.Legacy.present()) || (!j.legacy && !k.New.present())) {
		return nil // the side never had the key, or had already deleted it
	}
	cur := &k.New
	if j.legacy {
		cur = &k.Legacy
	}
	if ch.seq != 0 && cur.Seq >= ch.seq {
		// Already past this change: a redelivery, or another ficus on the
		// same consumer applied a later change of the key first.
		return nil
	}
	*cur = sideState{Seen: true, Deleted: ch.deleted, Values: toPtrs(ch.values), At: ch.atMs, Seq: ch.seq}
	now := time.Now()
	old := k.Status
	v, _ := verdict(k)
	var after func() // side effects, once the state is stored
	switch {
	case v == statusMatch:
		k.Status, k.Since = statusMatch, 0
		after = func() {
			c.pending.remove(ch.key)
			if old == statusPending && k.Legacy.At > 0 && k.New.At > 0 {
				c.figs.observeLag(time.Duration(k.New.At-k.Legacy.At) * time.Millisecond)
			}
			if isFinding(old) {
				c.publish(ctx, Finding{Name: c.cfg.Name, Key: ch.key, Kind: KindResolved, Previous: old, Time: now.UTC()})
			}
		}
	case old == statusPending:
		// Still waiting: the clock runs from the first disagreement.
	case v == old:
		// Still the reported disagreement: reported once, not again.
	default:
		k.Status, k.Since = statusPending, now.UnixMilli()
		after = func() {
			if !c.pending.add(ch.key, now.Add(c.cfg.MaxLag)) {
				c.figs.count(&c.figs.nDropped, c.figs.dropped)
			}
		}
	}
	if err := c.store(ctx, ch.key, k, rev, cache); err != nil {
		return err
	}
	var behind time.Duration
	if ch.atMs > 0 {
		behind = time.Since(time.UnixMilli(ch.atMs))
		c.figs.observeBehind(behind)
		c.trail.note(j.legacy, behind)
	}
	c.tally.change(max(behind.Seconds(), 0))
	if rev == 0 {
		c.figs.count(&c.figs.nSeen, c.figs.seen)
	}
	c.figs.move(old, k.Status)
	if k.Status == statusMatch && old != statusMatch {
		c.tally.settle(statusMatch)
	}
	if after != nil {
		after()
	}
	return nil
}

// sweepKey reports a key whose max_lag has passed if its sides still
// disagree.
func (c *Comparer) sweepKey(ctx context.Context, key Key, now time.Time, cache *stateCache) {
	k, rev, err := c.load(ctx, key, cache, readOnMiss)
	if err != nil {
		// The bucket did not answer (NATS away): the key is not lost, it
		// is judged again shortly.
		c.log.Debug("key state not read; judged again later", "key", key, "err", err)
		c.pending.add(key, now.Add(time.Second))
		return
	}
	if rev == 0 || k.Status != statusPending {
		return
	}
	v, cols := verdict(k)
	if v == statusMatch { // cannot happen: a match clears pending
		return
	}
	// The stale side's stream runs behind: look again within a second (not
	// at the due time itself, which would put the key behind keys due sooner
	// in the pending queue's order). A full pending set reports it now, as
	// before trailing sides were waited for, rather than forget it.
	if wait := c.trail.wait(k, c.cfg.MaxLag, now); wait > 0 && c.pending.add(key, now.Add(min(wait, time.Second))) {
		return
	}
	f := Finding{Name: c.cfg.Name, Key: key, Kind: v, Time: now.UTC(),
		PendingSeconds: now.Sub(time.UnixMilli(k.Since)).Seconds()}
	if v == KindDiffers && c.cfg.Judge != nil {
		j, err := c.judge(ctx, key, k)
		if err != nil {
			// The plugin's supervisor restarts and retries; what fails
			// still is asked again later rather than reported unjudged.
			c.log.Warn("comparator plugin failed; key judged again later", "key", key, "err", err)
			c.figs.count(&c.figs.nErrors, c.figs.errors)
			c.pending.add(key, now.Add(time.Second))
			return
		}
		if j.Equal {
			k.Status, k.Since = statusMatch, 0
			if err := c.store(ctx, key, k, rev, cache); err != nil {
				c.log.Warn("state not stored", "key", key, "err", err)
				c.pending.add(key, now.Add(time.Second))
				return
			}
			c.figs.move(statusPending, statusMatch)
			c.tally.settle(statusMatch)
			return
		}
		if j.Columns != nil {
			cols = j.Columns
		}
		f.Reason = j.Reason
	}
	switch v {
	case KindDiffers:
		for _, i := range cols {
			f.Columns = append(f.Columns, ColumnDiff{Legacy: c.cfg.Legacy.Columns[i], New: c.cfg.New.Columns[i],
				LegacyValue: value(k.Legacy.Values, i), NewValue: value(k.New.Values, i)})
		}
	case KindDeletedOneSide:
		f.DeletedIn = "new"
		if k.Legacy.Deleted {
			f.DeletedIn = "legacy"
		}
	}
	k.Status = v
	if err := c.store(ctx, key, k, rev, cache); err != nil {
		// Only this worker writes the key: a bucket error. Try again soon.
		c.log.Warn("finding not stored", "key", key, "err", err)
		c.pending.add(key, now.Add(time.Second))
		return
	}
	c.figs.move(statusPending, v)
	c.tally.settle(v)
	c.publish(ctx, f)
}

// judge asks the Judge about one differing key.
func (c *Comparer) judge(ctx context.Context, key Key, k *keyState) (canon.Judgement, error) {
	pair := canon.RowPair{Key: string(key), Legacy: fromPtrs(k.Legacy.Values), New: fromPtrs(k.New.Values)}
	js, err := c.cfg.Judge.Judge(ctx, c.cfg.Name, c.cfg.Legacy.Columns, c.cfg.New.Columns, []canon.RowPair{pair})
	if err != nil {
		return canon.Judgement{}, err
	}
	if len(js) != 1 {
		return canon.Judgement{}, fmt.Errorf("comparator answered %d judgements for 1 pair", len(js))
	}
	for _, i := range js[0].Columns {
		if i < 0 || i >= len(c.cfg.Legacy.Columns) {
			return canon.Judgement{}, fmt.Errorf("comparator named column %d of %d", i, len(c.cfg.Legacy.Columns))
		}
	}
	return js[0], nil
}

func value(vals []*string, i int) *string {
	if i < len(vals) {
		return vals[i]
	}
	return nil
}

func (c *Comparer) publish(ctx context.Context, f Finding) {
	b, _ := json.Marshal(f)
	if _, err := c.cfg.JS.Publish(ctx, SubjectPrefix+c.cfg.Name, b); err != nil {
		c.log.Warn("finding not published", "key", f.Key, "kind", f.Kind, "err", err)
		c.figs.count(&c.figs.nErrors, c.figs.errors)
		return
	}
	c.figs.findings.WithLabelValues(f.Kind).Inc()
	if f.Kind == KindResolved {
		c.figs.mu.Lock()
		c.figs.nResolved++
		c.figs.mu.Unlock()
	}
}

// Figures returns the comparison's current figures.
func (c *Comparer) Figures() Figures { return c.figs.snapshot(c.cfg.Name, c.pending.len()) }

// Name is the comparison's name.
func (c *Comparer) Name() string { return c.cfg.Name }

// SetKeyKinds fixes how the key columns are compared (nil: one integer
// column); call it before Run, with SetKinds.
func (c *Comparer) SetKeyKinds(kinds []canon.Kind) error {
	if kinds != nil && len(kinds) != len(c.cfg.Legacy.keyNames()) {
		return fmt.Errorf("compare_data %s: %d key kinds for %d key columns", c.cfg.Name, len(kinds), len(c.cfg.Legacy.keyNames()))
	}
	for _, k := range kinds {
		if err := canon.KeyKind(k); err != nil {
			return fmt.Errorf("compare_data %s: %w", c.cfg.Name, err)
		}
	}
	c.cfg.KeyKinds = kinds
	return nil
}

// SetKinds fixes how each column pair is compared; call it before Run
// (the column types are known only once both databases answer).
func (c *Comparer) SetKinds(kinds []canon.Kind) error {
	if len(kinds) != len(c.cfg.Legacy.Columns) {
		return fmt.Errorf("compare_data %s: %d kinds for %d columns", c.cfg.Name, len(kinds), len(c.cfg.Legacy.Columns))
	}
	c.cfg.Kinds = kinds
	return nil
}
