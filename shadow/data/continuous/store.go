package continuous

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// worker state: each key is only ever handled by one worker, so each
// worker keeps its own cache of the states it wrote last, without locks.
// The bucket stays the truth: a cached state is used only with the
// revision it was written at, and the bucket refuses an update made from a
// stale one (another process wrote the key), which is then read afresh.
type stateCache struct {
	max   int
	items map[Key]*list.Element
	order *list.List // front: most recently used
}

type cachedState struct {
	key Key
	k   keyState
	rev uint64
}

func newStateCache(max int) *stateCache {
	return &stateCache{max: max, items: map[Key]*list.Element{}, order: list.New()}
}

func (s *stateCache) get(key Key) (keyState, uint64, bool) {
	if s == nil {
		return keyState{}, 0, false
	}
	e, ok := s.items[key]
	if !ok {
		return keyState{}, 0, false
	}
	s.order.MoveToFront(e)
	c := e.Value.(*cachedState)
	return c.k, c.rev, true
}

func (s *stateCache) put(key Key, k keyState, rev uint64) {
	if s == nil || s.max <= 0 {
		return
	}
	if e, ok := s.items[key]; ok {
		c := e.Value.(*cachedState)
		c.k, c.rev = k, rev
		s.order.MoveToFront(e)
		return
	}
	if s.order.Len() >= s.max {
		old := s.order.Back()
		s.order.Remove(old)
		delete(s.items, old.Value.(*cachedState).key)
	}
	s.items[key] = s.order.PushFront(&cachedState{key: key, k: k, rev: rev})
}

func (s *stateCache) drop(key Key) {
	if s == nil {
		return
	}
	if e, ok := s.items[key]; ok {
		s.order.Remove(e)
		delete(s.items, key)
	}
}

// loadMode says what load does on a cache miss.
type loadMode int

const (
	// read the bucket.
	readOnMiss loadMode = iota
	// assume a new key: store then creates it, which the bucket refuses
	// (jetstream.ErrKeyExists) if it exists after all. Most changes are
	// inserts of keys never seen, for which this saves a round trip.
	assumeNewOnMiss
)

// load returns key's state and the revision it was stored at (0: not in
// the bucket, or assumed not to be).
func (c *Comparer) load(ctx context.Context, key Key, cache *stateCache, mode loadMode) (*keyState, uint64, error) {
	if k, rev, ok := cache.get(key); ok {
		return &k, rev, nil
	}
	if mode == assumeNewOnMiss {
		return &keyState{}, 0, nil
	}
	e, err := c.kv.Get(ctx, key.bucketKey())
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return &keyState{}, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("state of key %s: %w", key, err)
	}
	var k keyState
	if err := json.Unmarshal(e.Value(), &k); err != nil {
		return nil, 0, fmt.Errorf("state of key %s: %w", key, err)
	}
	cache.put(key, k, e.Revision())
	return &k, e.Revision(), nil
}

// store writes k if the key is still at revision rev (0: new key).
func (c *Comparer) store(ctx context.Context, key Key, k *keyState, rev uint64, cache *stateCache) error {
	name := key.bucketKey()
	var err error
	var next uint64
	if rev == 0 {
		next, err = c.kv.Create(ctx, name, k.encode())
	} else {
		next, err = c.kv.Update(ctx, name, k.encode(), rev)
	}
	if err != nil {
		cache.drop(key)
		return fmt.Errorf("store state of key %s: %w", key, err)
	}
	cache.put(key, *k, next)
	return nil
}

// truncate deletes, on one side, every key the bucket holds (the side's
// table was emptied). It runs in the event loop, so the deletes are routed
// after every earlier change of the side and before any later one; the
// message is acknowledged once every delete is stored. O(keys), as a
// TRUNCATE is rare.
func (c *Comparer) truncate(ctx context.Context, legacy bool, msg jetstream.Msg, t change, route func(job)) error {
	keys, err := c.kv.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("list keys: %w", err)
	}
	done := &sync.WaitGroup{}
	n := 0
	for name := range keys.Keys() {
		key, ok := keyOfBucket(name)
		if !ok {
			continue
		}
		done.Add(1)
		n++
		route(job{key: key, legacy: legacy, change: change{key: key, deleted: true, truncated: true, atMs: t.atMs, seq: t.seq}, done: done})
	}
	side := "new"
	if legacy {
		side = "legacy"
	}
	c.log.Info("table truncated: every key deleted on one side", "side", side, "keys", n)
	go func() {
		done.Wait()
		_ = msg.Ack()
	}()
	return nil
}
