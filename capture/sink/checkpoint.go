package sink

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Checkpoints is a small durable key/value store in a JetStream KV bucket,
// used by sources for state that is not a log position (e.g. snapshot done).
type Checkpoints struct {
	kv jetstream.KeyValue
}

// OpenCheckpoints opens (creating if missing) the bucket, file-backed.
func OpenCheckpoints(ctx context.Context, js jetstream.JetStream, bucket string, replicas int) (*Checkpoints, error) {
	if bucket == "" {
		bucket = DefaultCheckpointStore
	}
	kv, err := js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: bucket, Storage: jetstream.FileStorage, Replicas: max(replicas, 1), History: 1,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("open checkpoint bucket %q: %w", bucket, err)
	}
	return &Checkpoints{kv: kv}, nil
}

// Get returns the value, or nil without error if the key is absent.
func (c *Checkpoints) Get(ctx context.Context, key string) ([]byte, error) {
	e, err := c.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint %q: %w", key, err)
	}
	return e.Value(), nil
}

// Put stores the value; it returns once JetStream acknowledged it.
func (c *Checkpoints) Put(ctx context.Context, key string, val []byte) error {
	if _, err := c.kv.Put(ctx, key, val); err != nil {
		return fmt.Errorf("write checkpoint %q: %w", key, err)
	}
	return nil
}

// KV is the bucket itself, for keys that need more than Get and Put (the
// standby lease's compare-and-set).
func (c *Checkpoints) KV() jetstream.KeyValue { return c.kv }
