package continuous

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// recover rebuilds, from the bucket, the figures per state and the keys
// still waiting for max_lag, so a restarted ficus reports them on time.
// It reads every key once (O(keys) at start, nothing kept but the
// pending set).
func (c *Comparer) recover(ctx context.Context) error {
	w, err := c.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("read state bucket: %w", err)
	}
	defer func() { _ = w.Stop() }()
	n := 0
	var due []pendingEntry
	for {
		var e jetstream.KeyValueEntry
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e = <-w.Updates():
		}
		if e == nil { // the initial values are all delivered
			break
		}
		var k keyState
		key, ok := keyOfBucket(e.Key())
		if !ok || json.Unmarshal(e.Value(), &k) != nil {
			continue
		}
		n++
		c.figs.count(&c.figs.nSeen, c.figs.seen)
		c.figs.move("", k.Status)
		if k.Status == statusPending {
			due = append(due, pendingEntry{key, time.UnixMilli(k.Since).Add(c.cfg.MaxLag)})
		}
	}
	// The pending set pops in insertion order: insert by due time.
	slices.SortFunc(due, func(a, b pendingEntry) int { return a.at.Compare(b.at) })
	for _, e := range due {
		if !c.pending.add(e.key, e.at) {
			c.figs.count(&c.figs.nDropped, c.figs.dropped)
		}
	}
	if n > 0 {
		c.log.Info("state recovered", "keys", n, "pending", c.pending.len())
	}
	return nil
}
