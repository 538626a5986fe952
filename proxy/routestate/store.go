// Package routestate keeps every route's weight and rollout state in the
// JetStream key-value bucket ficus_routes, so that all ficus processes (one
// sidecar per legacy pod) agree on them. The config file only seeds the
// bucket: once a route's key exists, the bucket is the truth.
package routestate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/backoff"
	"github.com/ficus-migrate/ficus/internal/bus"
)

// Bucket is the key-value bucket holding route state and controller leases.
const Bucket = "ficus_routes"

// Key prefixes inside the bucket: route.<name> holds a State, lease.<name>
// the controller lease of that route.
const (
	routePrefix = "route."
	leasePrefix = "lease."
)

// RouteKey is the bucket key of a route's state.
func RouteKey(name string) string { return routePrefix + name }

// Phase is where a route's rollout stands.
type Phase string

// Phases. The empty phase means no rollout has started (a plain route).
const (
	PhaseNone       Phase = ""
	PhaseRolling    Phase = "rolling"     // the controller judges and promotes
	PhasePaused     Phase = "paused"      // holds the current weight
	PhaseRolledBack Phase = "rolled_back" // weight 0, held
	PhaseComplete   Phase = "complete"    // the last step was reached
)

// State is one route's shared state, the value of route.<name>.
type State struct {
	// Weight is the percentage of matching requests sent to the new side.
	Weight float64 `json:"weight"`
	// Step is the index into the route's rollout steps; -1 before the first.
	Step  int   `json:"step"`
	Phase Phase `json:"phase,omitempty"`
	// Manual is set by every operator action (set, promote, rollback,
	// pause); the controller leaves the route alone until resume clears it.
	Manual bool `json:"manual,omitempty"`
	// StepStarted is when the current step's weight was set; the interval
	// is measured from it, so it survives restarts and lease hand-overs.
	StepStarted time.Time `json:"step_started,omitzero"`
	// AwaitingApproval is the weight of the step the controller would set
	// next but may not until an operator approves it (rollout.approve_at);
	// 0 while the route waits for nothing. AwaitingSince is when the wait
	// began. Both live here, not in the controller, so that the wait
	// survives restarts and lease hand-overs.
	AwaitingApproval float64   `json:"awaiting_approval,omitempty"`
	AwaitingSince    time.Time `json:"awaiting_since,omitzero"`
	// ApprovedBy and ApprovedAt record the operator's approval of
	// AwaitingApproval; the lease holder sets the step at its next tick
	// and clears all four.
	ApprovedBy string    `json:"approved_by,omitempty"`
	ApprovedAt time.Time `json:"approved_at,omitzero"`
	// Reason and By say why and by whom the state last changed.
	Reason string    `json:"reason,omitempty"`
	By     string    `json:"by,omitempty"`
	At     time.Time `json:"at,omitzero"`
}

// Waiting reports whether the route waits for an operator's approval that
// has not come yet.
func (s State) Waiting() bool { return s.AwaitingApproval > 0 && s.ApprovedAt.IsZero() }

// ClearApproval forgets a wait and its approval: the step was set, or
// something else (a rollback, a pause, an operator's weight) overtook it.
func (s *State) ClearApproval() {
	s.AwaitingApproval, s.AwaitingSince, s.ApprovedBy, s.ApprovedAt = 0, time.Time{}, "", time.Time{}
}

// Config configures a Store.
type Config struct {
	JS jetstream.JetStream
	// Logger [slog.Default()].
	Logger *slog.Logger
}

// Store reads and writes route state in the bucket.
type Store struct {
	kv  jetstream.KeyValue
	js  jetstream.JetStream
	log *slog.Logger
}

// ErrSkip returned by an Update function leaves the key unchanged.
var ErrSkip = errors.New("routestate: no change")

// Open gets the bucket, creating it on first use: with 3 replicas when the
// NATS cluster can hold them, else with one.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "routestate")
	var kv jetstream.KeyValue
	err := retry(ctx, log, "open bucket", func(ctx context.Context) error {
		var err error
		kv, err = cfg.JS.KeyValue(ctx, Bucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			kv, err = create(ctx, cfg.JS, log)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("key-value bucket %s: %w", Bucket, err)
	}
	return &Store{kv: kv, js: cfg.JS, log: log}, nil
}

func create(ctx context.Context, js jetstream.JetStream, log *slog.Logger) (jetstream.KeyValue, error) {
	kc := jetstream.KeyValueConfig{
		Bucket: Bucket, Description: "ficus route weights, rollout state and controller leases",
		Storage: jetstream.FileStorage, History: 5, Replicas: 3,
	}
	kv, err := js.CreateKeyValue(ctx, kc)
	// A single server (embedded or not) refuses three replicas at once; a
	// cluster smaller than three says it lacks resources, which a cluster
	// still forming says too, so that is retried for a few seconds first.
	for deadline := time.Now().Add(5 * time.Second); bus.LacksResources(err) && time.Now().Before(deadline); {
		if werr := backoff.Wait(ctx, 250*time.Millisecond); werr != nil {
			return nil, werr
		}
		kv, err = js.CreateKeyValue(ctx, kc)
	}
	if bus.ReplicasRefused(err) {
		log.Info("bucket created with one replica: NATS cannot hold three", "bucket", Bucket, "err", err)
		kc.Replicas = 1
		kv, err = js.CreateKeyValue(ctx, kc)
	}
	if errors.Is(err, jetstream.ErrBucketExists) {
		return js.KeyValue(ctx, Bucket) // another process created it first
	}
	return kv, err
}

// Connected reports whether NATS is reachable now, so that callers can
// degrade at once rather than wait for a timeout.
func (s *Store) Connected() bool { return s.js.Conn().IsConnected() }

// KV exposes the bucket (leases live in it too).
func (s *Store) KV() jetstream.KeyValue { return s.kv }

// Seed writes st for a route that has no key yet; it reports whether it did.
func (s *Store) Seed(ctx context.Context, name string, st State) (bool, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return false, err
	}
	_, err = s.kv.Create(ctx, RouteKey(name), b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("seed %s: %w", RouteKey(name), err)
	}
	return true, nil
}

// Get returns a route's state and its revision.
func (s *Store) Get(ctx context.Context, name string) (State, uint64, error) {
	e, err := s.kv.Get(ctx, RouteKey(name))
	if err != nil {
		return State{}, 0, fmt.Errorf("get %s: %w", RouteKey(name), err)
	}
	st, err := decode(e.Value())
	if err != nil {
		return State{}, 0, fmt.Errorf("get %s: %w", RouteKey(name), err)
	}
	return st, e.Revision(), nil
}

func decode(b []byte) (State, error) {
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return State{}, fmt.Errorf("decode route state: %w", err)
	}
	return st, nil
}

// Update applies fn to a route's current state and writes the result only
// if nobody wrote the key in between (compare-and-set), retrying on a race.
// fn returning ErrSkip leaves the key as it is and Update returns the
// current state with ErrSkip.
func (s *Store) Update(ctx context.Context, name string, fn func(State) (State, error)) (State, error) {
	for attempt := 0; ; attempt++ {
		cur, rev, err := s.Get(ctx, name)
		if err != nil {
			return State{}, err
		}
		next, err := fn(cur)
		if err != nil {
			return cur, err
		}
		b, err := json.Marshal(next)
		if err != nil {
			return cur, err
		}
		_, err = s.kv.Update(ctx, RouteKey(name), b, rev)
		if err == nil {
			return next, nil
		}
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) || attempt >= 50 {
			return cur, fmt.Errorf("update %s: %w", RouteKey(name), err)
		}
		// Writers that lost the race back off by a random few
		// milliseconds, so that contenders do not collide again in step.
		if err := backoff.Wait(ctx, time.Duration(rand.IntN(2+attempt))*time.Millisecond); err != nil {
			return cur, fmt.Errorf("update %s: %w", RouteKey(name), err)
		}
	}
}

// List returns the state of every route in the bucket.
func (s *Store) List(ctx context.Context) (map[string]State, error) {
	lister, err := s.kv.ListKeysFiltered(ctx, routePrefix+">")
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", Bucket, err)
	}
	out := map[string]State{}
	for key := range lister.Keys() {
		name := key[len(routePrefix):]
		st, _, err := s.Get(ctx, name)
		if err != nil {
			continue // deleted in between
		}
		out[name] = st
	}
	return out, nil
}
