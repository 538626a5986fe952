package continuous

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/backoff"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// This file follows a query side (compare_data[].<side>.query): its rows
// are no captured table's, so a change of any table the query reads marks
// the keys it touches, and the side's rows of those keys are read again
// from its database, a batch of keys per query. What the query returns is
// the side's state of each key; a key it no longer returns is deleted on
// the side.

// MaxQueryKeys bounds the keys one re-read of a query side asks for; a
// batch is also read every Config.Sweep, full or not.
const MaxQueryKeys = 500

// QuerySide makes a Side a query.
type QuerySide struct {
	// Tables are the captured tables the query reads (all on the side's
	// Stream), each with the columns of its rows that hold the key.
	Tables []QueryTable
	// Rows reads the query's rows of keys (at most MaxQueryKeys) from the
	// side's database: the canonical values of each key it returns, in
	// Side.Columns order, the side's rules applied. Keys it does not
	// return are gone from the side.
	Rows func(ctx context.Context, keys []Key) (map[Key][]canon.Value, error)
}

// QueryTable is one captured table a query side reads.
type QueryTable struct {
	// Subject is the table's capture subject.
	Subject string
	// KeyFrom are the columns of the table's rows that hold the
	// comparison's key, in key order (for order_items: [order_id]).
	KeyFrom []string
}

// queryBatch is the keys of one query side waiting to be read again, and
// the messages that touched them (acknowledged once the keys' states are
// stored).
type queryBatch struct {
	legacy bool
	marks  map[Key]mark
	order  []Key
	msgs   []jetstream.Msg
}

// mark is the latest change that touched a key: its stream sequence and
// commit time.
type mark struct {
	seq  uint64
	atMs int64
}

func newQueryBatch(legacy bool) *queryBatch {
	return &queryBatch{legacy: legacy, marks: map[Key]mark{}}
}

func (b *queryBatch) add(k Key, m mark) {
	old, ok := b.marks[k]
	if !ok {
		b.order = append(b.order, k)
	}
	b.marks[k] = mark{seq: max(old.seq, m.seq), atMs: max(old.atMs, m.atMs)}
}

// queryState is a comparer's batching of its query sides, touched by the
// dispatch goroutine only (batches) and the refreshers (channels).
type queryState struct {
	batch [2]*queryBatch // legacy, new
	ch    [2]chan *queryBatch
}

func sideIndex(legacy bool) int {
	if legacy {
		return 0
	}
	return 1
}

// tableOf is the query table whose subject is subject, or nil.
func (q *QuerySide) tableOf(subject string) *QueryTable {
	for i := range q.Tables {
		if q.Tables[i].Subject == subject {
			return &q.Tables[i]
		}
	}
	return nil
}

// subjects are the capture subjects of the query's tables.
func (q *QuerySide) subjects() []string {
	out := make([]string, len(q.Tables))
	for i, t := range q.Tables {
		out[i] = t.Subject
	}
	return out
}

// queryKeys reads the keys a change of table t touches: the key of its
// row after the change and, when different, before (an item moved to
// another order touches both). A row whose key columns are NULL touches
// none.
func queryKeys(b []byte, t *QueryTable, keyKinds []canon.Kind) (keys []Key, truncate bool, atMs int64, err error) {
	var e envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, false, 0, fmt.Errorf("decode event: %w", err)
	}
	switch e.Op {
	case "c", "u", "r", "d":
	case "t":
		return nil, true, e.Source.TsMs, nil
	default:
		return nil, false, 0, errSkip
	}
	s := &Side{KeyColumns: t.KeyFrom}
	for _, row := range []map[string]json.RawMessage{e.Before, e.After} {
		if row == nil || nullKey(row, t.KeyFrom) {
			continue
		}
		k, err := readKey(s, keyKinds, nil, row)
		if err != nil {
			return nil, false, 0, fmt.Errorf("%s: %w", t.Subject, err)
		}
		if len(keys) == 0 || keys[0] != k {
			keys = append(keys, k)
		}
	}
	return keys, false, e.Source.TsMs, nil
}

func nullKey(row map[string]json.RawMessage, cols []string) bool {
	for _, c := range cols {
		if raw, ok := row[c]; ok && (len(raw) == 0 || string(raw) == "null") {
			return true
		}
	}
	return false
}

// dispatchQuery marks the keys a change of a query side's table touches;
// the message is acknowledged once they are read again and stored.
func (c *Comparer) dispatchQuery(ctx context.Context, e event, side *Side) {
	t := side.Query.tableOf(e.msg.Subject())
	if t == nil {
		_ = e.msg.Ack() // not a table the query reads
		return
	}
	keys, truncate, atMs, err := queryKeys(e.msg.Data(), t, c.cfg.KeyKinds)
	var seq uint64
	if md, mdErr := e.msg.Metadata(); mdErr == nil {
		seq = md.Sequence.Stream
	}
	switch {
	case errors.Is(err, errSkip):
		_ = e.msg.Ack()
		return
	case err != nil:
		_ = e.msg.Term() // a malformed event will not improve on redelivery
		c.log.Warn("change not compared", "err", err)
		c.figs.count(&c.figs.nErrors, c.figs.errors)
		return
	case truncate:
		// Every key the comparison holds is read again.
		if keys, err = c.bucketKeys(ctx); err != nil {
			_ = e.msg.Nak()
			c.log.Warn("truncate not compared; redelivered", "err", err)
			c.figs.count(&c.figs.nErrors, c.figs.errors)
			return
		}
		c.log.Info("a table of a query side truncated: every key read again", "table", t.Subject, "keys", len(keys))
	}
	i := sideIndex(e.legacy)
	for _, k := range keys {
		b := c.query.batch[i]
		if b == nil {
			b = newQueryBatch(e.legacy)
			c.query.batch[i] = b
		}
		b.add(k, mark{seq: seq, atMs: atMs})
		if len(b.order) >= MaxQueryKeys {
			c.flushQuery(ctx, i)
		}
	}
	// The message goes with the batch holding its last key, read after
	// (or with) those holding the others.
	if c.query.batch[i] == nil {
		c.query.batch[i] = newQueryBatch(e.legacy)
	}
	c.query.batch[i].msgs = append(c.query.batch[i].msgs, e.msg)
}

// bucketKeys lists every key of the state bucket.
func (c *Comparer) bucketKeys(ctx context.Context) ([]Key, error) {
	lister, err := c.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	var out []Key
	for name := range lister.Keys() {
		if k, ok := keyOfBucket(name); ok {
			out = append(out, k)
		}
	}
	return out, nil
}

// flushQuery hands side i's batch to its refresher, waiting while the
// refresher is busy with the one before (the consumers' MaxAckPending
// bounds what waits meanwhile).
func (c *Comparer) flushQuery(ctx context.Context, i int) {
	b := c.query.batch[i]
	if b == nil || (len(b.order) == 0 && len(b.msgs) == 0) {
		return
	}
	c.query.batch[i] = nil
	select {
	case c.query.ch[i] <- b:
	case <-ctx.Done(): // unacknowledged: redelivered
	}
}

// startRefreshers starts one refresher per query side; they stop once
// ctx ends (the returned group waits for them).
func (c *Comparer) startRefreshers(ctx context.Context, route func(job)) *sync.WaitGroup {
	wg := &sync.WaitGroup{}
	for _, s := range []struct {
		legacy bool
		side   *Side
	}{{true, &c.cfg.Legacy}, {false, &c.cfg.New}} {
		if s.side.Query == nil {
			continue
		}
		ch := make(chan *queryBatch, 1)
		c.query.ch[sideIndex(s.legacy)] = ch
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.refresh(ctx, s.side.Query, ch, route)
		}()
	}
	return wg
}

// refresh reads each batch's keys again (retrying with backoff while the
// database fails), routes their states to the workers, and acknowledges
// the batch's messages once they are stored; one batch at a time, so a
// key's re-reads are applied in order.
func (c *Comparer) refresh(ctx context.Context, q *QuerySide, batches <-chan *queryBatch, route func(job)) {
	for {
		var b *queryBatch
		select {
		case b = <-batches:
		case <-ctx.Done():
			return
		}
		rows, err := c.readKeys(ctx, q, b.order)
		if err != nil {
			return // ctx ended: the messages are redelivered
		}
		done := &sync.WaitGroup{}
		for _, k := range b.order {
			m := b.marks[k]
			ch := change{key: k, atMs: m.atMs, seq: m.seq}
			if vals, ok := rows[k]; ok {
				ch.values = vals
			} else {
				// Gone from the query: deleted on the side, if it had it.
				ch.deleted, ch.truncated = true, true
			}
			done.Add(1)
			route(job{key: k, legacy: b.legacy, change: ch, done: done})
		}
		done.Wait()
		if ctx.Err() != nil {
			return // jobs dropped unstored: the messages are redelivered
		}
		for _, m := range b.msgs {
			_ = m.Ack()
		}
	}
}

// readKeys runs q.Rows until it answers or ctx ends.
func (c *Comparer) readKeys(ctx context.Context, q *QuerySide, keys []Key) (map[Key][]canon.Value, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	bo := backoff.New(backoff.Policy{Initial: 250 * time.Millisecond, Max: 10 * time.Second})
	for {
		rows, err := q.Rows(ctx, keys)
		if err == nil {
			c.figs.count(&c.figs.nQueries, c.figs.queries)
			return rows, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		wait := bo.Next()
		c.log.Warn("query side not read; retrying", "keys", len(keys), "err", err, "in", wait.String())
		c.figs.count(&c.figs.nErrors, c.figs.errors)
		if err := backoff.Wait(ctx, wait); err != nil {
			return nil, err
		}
	}
}
