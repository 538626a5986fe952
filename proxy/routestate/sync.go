package routestate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/proxy/route"
)

// Target is the proxy whose route table follows the bucket.
type Target interface {
	SetRoutes([]route.Spec) error
	SetWeight(name string, w float64) error
}

// Syncer keeps one process's route table in step with the bucket: it seeds
// the keys of routes the bucket does not know from the config file, applies
// the bucket's weights before the proxy serves, then applies every change
// the bucket reports (a watch, plus a re-read every ResyncEvery as a safety
// net for a watch that a NATS outage interrupted).
type Syncer struct {
	store  *Store
	log    *slog.Logger
	by     string
	resync time.Duration

	mu      sync.Mutex
	seeds   map[string]float64 // the config file's weight per route
	applied map[string]float64 // what the table holds
	target  Target
}

// SyncConfig configures a Syncer.
type SyncConfig struct {
	Store *Store
	// Instance names this process in the states it seeds.
	Instance string
	// ResyncEvery re-reads every route's key [2s].
	ResyncEvery time.Duration
	Logger      *slog.Logger
}

// NewSyncer returns a Syncer with no target yet.
func NewSyncer(cfg SyncConfig) *Syncer {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ResyncEvery <= 0 {
		cfg.ResyncEvery = 2 * time.Second
	}
	return &Syncer{
		store: cfg.Store, log: cfg.Logger.With("component", "routestate"), by: cfg.Instance,
		resync: cfg.ResyncEvery, seeds: map[string]float64{}, applied: map[string]float64{},
	}
}

// Prepare seeds the bucket with the routes it lacks (their config-file
// weights) and returns specs with every weight taken from the bucket. Call
// it before the proxy starts serving so that a restart never serves a
// single request at a stale weight.
func (s *Syncer) Prepare(ctx context.Context, specs []route.Spec) ([]route.Spec, error) {
	out := make([]route.Spec, len(specs))
	copy(out, specs)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seeds = make(map[string]float64, len(specs)) // a reload may drop routes
	for i := range out {
		name := out[i].Name
		s.seeds[name] = specs[i].Weight
		var st State
		err := retry(ctx, s.log, "seed "+name, func(ctx context.Context) error {
			var err error
			st, err = s.seedAndGet(ctx, name, specs[i].Weight)
			return err
		})
		if err != nil {
			return nil, err
		}
		if st.Weight != specs[i].Weight {
			s.log.Info("route weight taken from the bucket, not the config file",
				"route", name, "bucket", st.Weight, "file", specs[i].Weight)
		}
		out[i].Weight = st.Weight
		s.applied[name] = st.Weight
	}
	return out, nil
}

func (s *Syncer) seedAndGet(ctx context.Context, name string, weight float64) (State, error) {
	seeded, err := s.store.Seed(ctx, name, State{Weight: weight, Step: -1, Reason: "seeded from the config file", By: s.by, At: time.Now().UTC()})
	if err != nil {
		return State{}, err
	}
	if seeded {
		s.log.Info("route seeded into the bucket from the config file", "route", name, "weight", weight)
	}
	st, _, err := s.store.Get(ctx, name)
	return st, err
}

// Attach sets the proxy that follows the bucket (after Prepare built it).
func (s *Syncer) Attach(t Target) {
	s.mu.Lock()
	s.target = t
	s.mu.Unlock()
}

// SetRoutes is the live-reload path: a reloaded config file changes routes'
// matches and upstreams, but their weights stay the bucket's; routes new to
// the bucket are seeded with the file's weight.
func (s *Syncer) SetRoutes(specs []route.Spec) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := s.Prepare(ctx, specs)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.target == nil {
		return errors.New("routestate: no proxy attached")
	}
	return s.target.SetRoutes(out)
}

// Run watches the bucket and applies changes until ctx ends.
func (s *Syncer) Run(ctx context.Context) error {
	tick := time.NewTicker(s.resync)
	defer tick.Stop()
	for ctx.Err() == nil {
		w, err := s.store.kv.Watch(ctx, routePrefix+">", jetstream.UpdatesOnly())
		if err != nil {
			s.log.Warn("cannot watch the route bucket; retrying", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		s.resyncAll(ctx) // anything missed before the watch began
		s.follow(ctx, w, tick.C)
		_ = w.Stop()
	}
	return nil
}

// follow applies watched entries until the watch ends or ctx does.
func (s *Syncer) follow(ctx context.Context, w jetstream.KeyWatcher, tick <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			s.resyncAll(ctx)
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil {
				continue
			}
			s.entry(ctx, e)
		}
	}
}

func (s *Syncer) entry(ctx context.Context, e jetstream.KeyValueEntry) {
	name := e.Key()[len(routePrefix):]
	if e.Operation() != jetstream.KeyValuePut {
		s.reseed(ctx, name)
		return
	}
	st, err := decode(e.Value())
	if err != nil {
		s.log.Error("ignoring an unreadable route state", "route", name, "err", err)
		return
	}
	s.apply(name, st.Weight)
}

// reseed is how an operator resets a route to the config file: deleting its
// key makes the processes that know the route write their file's weight
// back (the first one wins).
func (s *Syncer) reseed(ctx context.Context, name string) {
	s.mu.Lock()
	w, ok := s.seeds[name]
	s.mu.Unlock()
	if !ok {
		return
	}
	s.log.Info("route key deleted from the bucket: seeding it from the config file again", "route", name)
	st, err := s.seedAndGet(ctx, name, w)
	if err != nil {
		s.log.Warn("reseed failed", "route", name, "err", err)
		return
	}
	s.apply(name, st.Weight)
}

func (s *Syncer) resyncAll(ctx context.Context) {
	s.mu.Lock()
	names := make([]string, 0, len(s.seeds))
	for n := range s.seeds {
		names = append(names, n)
	}
	s.mu.Unlock()
	for _, name := range names {
		st, _, err := s.store.Get(ctx, name)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			s.reseed(ctx, name)
			continue
		}
		if err != nil {
			return // NATS unreachable: keep the weights we have
		}
		s.apply(name, st.Weight)
	}
}

func (s *Syncer) apply(name string, w float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.target == nil || s.applied[name] == w {
		return
	}
	if _, known := s.seeds[name]; !known {
		return // a route only other processes have
	}
	if err := s.target.SetWeight(name, w); err != nil {
		s.log.Warn("cannot apply the bucket's weight", "route", name, "weight", w, "err", fmt.Sprint(err))
		return
	}
	s.applied[name] = w
}

// Weight returns the weight this process applies to a route.
func (s *Syncer) Weight(name string) (float64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.applied[name]
	return w, ok
}
