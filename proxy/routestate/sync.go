package routestate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/backoff"
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
// net for a watch that a NATS outage interrupted). Every state it applies
// is also kept in a local file (LocalFile), which Restore reads when a
// process starts while NATS is unreachable.
type Syncer struct {
	log    *slog.Logger
	by     string
	resync time.Duration
	local  string

	mu      sync.Mutex
	store   *Store             // nil until the bucket could be opened
	seeds   map[string]float64 // the config file's weight per route
	applied map[string]float64 // what the table holds
	states  map[string]State   // what the local file holds
	target  Target
}

// SyncConfig configures a Syncer.
type SyncConfig struct {
	// Store is the bucket; nil until it can be opened (SetStore).
	Store *Store
	// LocalFile keeps the last state applied per route ("" keeps none).
	LocalFile string
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
		store: cfg.Store, log: cfg.Logger.With("component", "routestate"), by: cfg.Instance, local: cfg.LocalFile,
		resync: cfg.ResyncEvery, seeds: map[string]float64{}, applied: map[string]float64{}, states: map[string]State{},
	}
}

// errNoBucket is what needs the bucket before it could be opened.
var errNoBucket = errors.New("routestate: the route bucket is not reachable yet (NATS unreachable)")

// SetStore gives the Syncer the bucket once it could be opened.
func (s *Syncer) SetStore(st *Store) {
	s.mu.Lock()
	s.store = st
	s.mu.Unlock()
}

func (s *Syncer) storeOf() (*Store, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.store == nil {
		return nil, errNoBucket
	}
	return s.store, nil
}

// Restore returns specs with the weights of the local file, for a process
// that must serve before the bucket answers; it reports whether the file
// knew any of the routes. The bucket still wins once it answers (Prepare).
func (s *Syncer) Restore(specs []route.Spec) ([]route.Spec, bool, error) {
	out := make([]route.Spec, len(specs))
	copy(out, specs)
	if s.local == "" {
		return out, false, nil
	}
	saved, err := loadLocal(s.local)
	if err != nil {
		return out, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	found := false
	for i := range out {
		st, ok := saved[out[i].Name]
		if !ok {
			continue
		}
		found = true
		s.log.Info("serving the route from its last-known state (the bucket is not reachable)",
			"route", out[i].Name, "weight", st.Weight, "phase", st.Phase, "manual", st.Manual, "file", s.local)
		out[i].Weight = st.Weight
		s.applied[out[i].Name] = st.Weight
		s.states[out[i].Name] = st
	}
	return out, found, nil
}

// remember records st as applied to name and rewrites the local file when
// it changed; the caller holds s.mu. A file that cannot be written is
// logged: serving goes on, only a restart during an outage would suffer.
func (s *Syncer) remember(name string, st State) {
	if old, ok := s.states[name]; ok && sameState(old, st) {
		return
	}
	s.states[name] = st
	if s.local == "" {
		return
	}
	if err := saveLocal(s.local, s.states); err != nil {
		s.log.Warn("cannot keep the last-known route state", "file", s.local, "err", err)
	}
}

func sameState(a, b State) bool {
	return a.Weight == b.Weight && a.Step == b.Step && a.Phase == b.Phase && a.Manual == b.Manual &&
		a.StepStarted.Equal(b.StepStarted) && a.Reason == b.Reason && a.By == b.By && a.At.Equal(b.At)
}

// Prepare seeds the bucket with the routes it lacks (their config-file
// weights) and returns specs with every weight taken from the bucket. Call
// it before the proxy starts serving so that a restart never serves a
// single request at a stale weight.
func (s *Syncer) Prepare(ctx context.Context, specs []route.Spec) ([]route.Spec, error) {
	store, err := s.storeOf()
	if err != nil {
		return nil, err
	}
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
			st, err = s.seedAndGet(ctx, store, name, specs[i].Weight)
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
		s.remember(name, st)
	}
	return out, nil
}

func (s *Syncer) seedAndGet(ctx context.Context, store *Store, name string, weight float64) (State, error) {
	seeded, err := store.Seed(ctx, name, State{Weight: weight, Step: -1, Reason: "seeded from the config file", By: s.by, At: time.Now().UTC()})
	if err != nil {
		return State{}, err
	}
	if seeded {
		s.log.Info("route seeded into the bucket from the config file", "route", name, "weight", weight)
	}
	st, _, err := store.Get(ctx, name)
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
	if store, err := s.storeOf(); err != nil || !store.Connected() {
		return s.setOffline(specs)
	}
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

// setOffline applies a reload while the bucket is unreachable, at once:
// routes keep the weights they have (the bucket's last, or the local
// file's), routes new to this process start at the file's weight. Once NATS
// is back the resync asks the bucket, which wins, and seeds the new routes.
func (s *Syncer) setOffline(specs []route.Spec) error {
	out := make([]route.Spec, len(specs))
	copy(out, specs)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.target == nil {
		return errors.New("routestate: no proxy attached")
	}
	seeds := make(map[string]float64, len(specs))
	for i := range out {
		name := out[i].Name
		seeds[name] = specs[i].Weight
		if w, ok := s.applied[name]; ok {
			out[i].Weight = w
		}
	}
	if err := s.target.SetRoutes(out); err != nil {
		return err
	}
	s.seeds = seeds
	for _, r := range out {
		s.applied[r.Name] = r.Weight
	}
	s.log.Warn("routes reloaded while the route bucket is unreachable: known routes keep their weights, new ones "+
		"start at the file's; the bucket is asked, and wins, once NATS is back", "routes", len(out))
	return nil
}

// Run watches the bucket and applies changes until ctx ends; the store
// must be set.
func (s *Syncer) Run(ctx context.Context) error {
	store, err := s.storeOf()
	if err != nil {
		return err
	}
	tick := time.NewTicker(s.resync)
	defer tick.Stop()
	for ctx.Err() == nil {
		w, err := store.kv.Watch(ctx, routePrefix+">", jetstream.UpdatesOnly())
		if err != nil {
			s.log.Warn("cannot watch the route bucket; retrying", "err", err)
			_ = backoff.Wait(ctx, time.Second) // the loop ends with ctx
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
	s.apply(name, st)
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
	store, err := s.storeOf()
	if err != nil {
		return
	}
	s.log.Info("route key deleted from the bucket: seeding it from the config file again", "route", name)
	st, err := s.seedAndGet(ctx, store, name, w)
	if err != nil {
		s.log.Warn("reseed failed", "route", name, "err", err)
		return
	}
	s.apply(name, st)
}

func (s *Syncer) resyncAll(ctx context.Context) {
	s.mu.Lock()
	names := make([]string, 0, len(s.seeds))
	for n := range s.seeds {
		names = append(names, n)
	}
	store := s.store
	s.mu.Unlock()
	if store == nil {
		return
	}
	for _, name := range names {
		st, _, err := store.Get(ctx, name)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			s.reseed(ctx, name)
			continue
		}
		if err != nil {
			return // NATS unreachable: keep the weights we have
		}
		s.apply(name, st)
	}
}

// apply sets the bucket's state of a route on the table and keeps it in
// the local file.
func (s *Syncer) apply(name string, st State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.target == nil {
		return
	}
	if _, known := s.seeds[name]; !known {
		return // a route only other processes have
	}
	if s.applied[name] != st.Weight {
		if err := s.target.SetWeight(name, st.Weight); err != nil {
			s.log.Warn("cannot apply the bucket's weight", "route", name, "weight", st.Weight, "err", fmt.Sprint(err))
			return
		}
		s.applied[name] = st.Weight
	}
	s.remember(name, st)
}

// Weight returns the weight this process applies to a route.
func (s *Syncer) Weight(name string) (float64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.applied[name]
	return w, ok
}
