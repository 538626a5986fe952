// Package progresskv keeps the progress of a `ficus reconcile` run in a
// JetStream key-value bucket, ficus_reconcile_<name>, so that a run stopped
// at any point (kill -9 included) can be continued: reconcile.Config's
// Checkpoint saves into it, Load gives back a reconcile.Saved for
// reconcile.Config.Resume.
//
// The bucket holds the key "state" (a reconcile.Saved as JSON, without its
// differences) and the keys "diffs.N", chunks of the differences found, in
// the order they were found; the state counts the chunks that belong to it.
package progresskv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/shadow/data/reconcile"
)

// Bucket is the name of the bucket of compare_data name (a '-' becomes '_',
// as in the continuous mode's buckets).
func Bucket(name string) string { return "ficus_reconcile_" + strings.ReplaceAll(name, "-", "_") }

const stateKey = "state"

// chunkBytes bounds a chunk of differences well under NATS's default
// max_payload (1 MiB); a single difference larger than that is kept alone
// and may fail to save (the run then goes on without saving).
const chunkBytes = 256 << 10

// Store is the progress bucket of one comparison.
type Store struct {
	js   jetstream.JetStream
	name string
	kv   jetstream.KeyValue // nil until the bucket is opened or made
	// chunks is how many chunks of differences the kept state counts
	// (Save is called one at a time).
	chunks int
}

// New returns the store of compare_data name; nothing is read or made yet.
func New(js jetstream.JetStream, name string) *Store { return &Store{js: js, name: name} }

// Bucket is the store's bucket name.
func (s *Store) Bucket() string { return Bucket(s.name) }

// Load returns the kept progress with its differences, or nil when there is
// none.
func (s *Store) Load(ctx context.Context) (*reconcile.Saved, error) {
	kv, err := s.js.KeyValue(ctx, s.Bucket())
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("progress bucket %s: %w", s.Bucket(), err)
	}
	s.kv = kv
	e, err := kv.Get(ctx, stateKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("progress bucket %s: %w", s.Bucket(), err)
	}
	var st reconcile.Saved
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return nil, fmt.Errorf("progress bucket %s: state: %w", s.Bucket(), err)
	}
	for i := range st.DiffChunks {
		c, err := kv.Get(ctx, chunkKey(i))
		if err != nil {
			return nil, fmt.Errorf("progress bucket %s: %s: %w", s.Bucket(), chunkKey(i), err)
		}
		var part []reconcile.Difference
		if err := json.Unmarshal(c.Value(), &part); err != nil {
			return nil, fmt.Errorf("progress bucket %s: %s: %w", s.Bucket(), chunkKey(i), err)
		}
		st.Differences = append(st.Differences, part...)
	}
	s.chunks = st.DiffChunks
	return &st, nil
}

// Save keeps c: its differences first, as the chunks after those of the
// state kept (or loaded) last, then the state that counts them. It is
// reconcile.Config.Checkpoint.
func (s *Store) Save(ctx context.Context, c reconcile.Checkpoint) error {
	if s.kv == nil {
		kv, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      s.Bucket(),
			Description: "ficus reconcile " + s.name + ": progress of a run, for --resume",
			History:     1,
		})
		if err != nil {
			return fmt.Errorf("progress bucket %s: %w", s.Bucket(), err)
		}
		s.kv = kv
	}
	n := s.chunks
	for _, part := range chunks(c.Found) {
		b, err := json.Marshal(part)
		if err != nil {
			return err
		}
		if _, err := s.kv.Put(ctx, chunkKey(n), b); err != nil {
			return fmt.Errorf("progress bucket %s: %s: %w", s.Bucket(), chunkKey(n), err)
		}
		n++
	}
	c.State.DiffChunks = n
	b, err := json.Marshal(c.State)
	if err != nil {
		return err
	}
	if _, err := s.kv.Put(ctx, stateKey, b); err != nil {
		return fmt.Errorf("progress bucket %s: state: %w", s.Bucket(), err)
	}
	s.chunks = n
	return nil
}

// Delete drops the kept progress (the whole bucket); no bucket is fine.
func (s *Store) Delete(ctx context.Context) error {
	s.kv, s.chunks = nil, 0
	err := s.js.DeleteKeyValue(ctx, s.Bucket())
	if err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
		return fmt.Errorf("progress bucket %s: delete: %w", s.Bucket(), err)
	}
	return nil
}

func chunkKey(i int) string { return "diffs." + strconv.Itoa(i) }

// chunks splits found into parts of about chunkBytes of JSON each.
func chunks(found []reconcile.Difference) [][]reconcile.Difference {
	var out [][]reconcile.Difference
	start, size := 0, 0
	for i, d := range found {
		b, _ := json.Marshal(d)
		if i > start && size+len(b) > chunkBytes {
			out = append(out, found[start:i])
			start, size = i, 0
		}
		size += len(b)
	}
	if start < len(found) {
		out = append(out, found[start:])
	}
	return out
}
