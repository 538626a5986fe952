package backfill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// MaxQueued bounds the jobs queued per source.
const MaxQueued = 100

// queue is the KV value of a source: Jobs[0] runs, the others wait.
type queue struct {
	Jobs []Job `json:"jobs"`
	// LastError is why the last job stopped before its end, if it did.
	LastError string `json:"last_error,omitempty"`
}

// store keeps the queues in a KV bucket, one key per source. Every write is
// a compare-and-set on the key's revision, so the admin API's Enqueue and
// the driver's progress never overwrite each other.
type store struct {
	kv  jetstream.KeyValue
	key string
}

func openStore(ctx context.Context, js jetstream.JetStream, bucket, source string, replicas int) (*store, error) {
	kv, err := js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: bucket, Storage: jetstream.FileStorage, Replicas: max(replicas, 1), History: 1,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("open backfill bucket %q: %w", bucket, err)
	}
	return &store{kv: kv, key: source}, nil
}

func (s *store) load(ctx context.Context) (queue, uint64, error) {
	e, err := s.kv.Get(ctx, s.key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return queue{}, 0, nil
	}
	if err != nil {
		return queue{}, 0, fmt.Errorf("read backfill state %q: %w", s.key, err)
	}
	var q queue
	if err := json.Unmarshal(e.Value(), &q); err != nil {
		return queue{}, 0, fmt.Errorf("decode backfill state %q: %w", s.key, err)
	}
	return q, e.Revision(), nil
}

// update applies fn to the current queue and writes it back, retrying when
// another writer got there first.
func (s *store) update(ctx context.Context, fn func(*queue) error) (queue, error) {
	for range 20 {
		q, rev, err := s.load(ctx)
		if err != nil {
			return queue{}, err
		}
		if err := fn(&q); err != nil {
			return queue{}, err
		}
		b, err := json.Marshal(q)
		if err != nil {
			return queue{}, fmt.Errorf("encode backfill state: %w", err)
		}
		if rev == 0 {
			_, err = s.kv.Create(ctx, s.key, b)
		} else {
			_, err = s.kv.Update(ctx, s.key, b, rev)
		}
		if err == nil {
			return q, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !isWrongSequence(err) {
			return queue{}, fmt.Errorf("write backfill state %q: %w", s.key, err)
		}
	}
	return queue{}, fmt.Errorf("write backfill state %q: too many concurrent writers", s.key)
}

func isWrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}
