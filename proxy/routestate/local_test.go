package routestate

import (
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/proxy/route"
)

// table is a Target that remembers the weights set on it.
type table struct {
	mu sync.Mutex
	w  map[string]float64
}

func (t *table) SetRoutes(specs []route.Spec) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range specs {
		t.w[s.Name] = s.Weight
	}
	return nil
}

func (t *table) SetWeight(name string, w float64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.w[name] = w
	return nil
}

// The last-known state survives a restart without the bucket: what one
// Syncer applied from the bucket, the next restores from the file, and the
// bucket wins again as soon as it answers.
func TestLastKnownStateSurvivesARestartWithoutTheBucket(t *testing.T) {
	store := openStore(t)
	ctx := t.Context()
	file := filepath.Join(t.TempDir(), "data", LocalFileName)
	newURL, _ := url.Parse("http://127.0.0.1:1")
	specs := []route.Spec{{Name: "orders", PathPrefix: "/orders", New: newURL, Weight: 0}}

	first := NewSyncer(SyncConfig{Store: store, LocalFile: file, Instance: "a"})
	if _, err := first.Prepare(ctx, specs); err != nil {
		t.Fatal(err)
	}
	first.Attach(&table{w: map[string]float64{}})
	if _, err := store.Update(ctx, "orders", func(st State) (State, error) {
		st.Weight, st.Phase, st.Manual = 100, PhaseComplete, true
		return st, nil
	}); err != nil {
		t.Fatal(err)
	}
	first.resyncAll(ctx)

	cases := []struct {
		name    string
		file    bool
		want    float64
		restore bool
	}{
		{"no file: the config file's weight", false, 0, false},
		{"file: the last applied weight", true, 100, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := file
			if !c.file {
				path = filepath.Join(t.TempDir(), LocalFileName)
			}
			next := NewSyncer(SyncConfig{LocalFile: path, Instance: "b"}) // no bucket
			out, found, err := next.Restore(specs)
			if err != nil || found != c.restore || out[0].Weight != c.want {
				t.Fatalf("Restore = weight %v found %v err %v, want %v %v", out[0].Weight, found, err, c.want, c.restore)
			}
			if _, err := next.Prepare(ctx, specs); err == nil {
				t.Fatal("Prepare without a bucket succeeded")
			}
		})
	}
	saved, err := loadLocal(file)
	if err != nil || saved["orders"].Phase != PhaseComplete || !saved["orders"].Manual {
		t.Fatalf("file holds %+v (%v), want the phase and manual flag too", saved, err)
	}

	// The bucket wins once it answers: an operator moved the route back
	// to 30 while this process was down.
	if _, err := store.Update(ctx, "orders", func(st State) (State, error) { st.Weight = 30; return st, nil }); err != nil {
		t.Fatal(err)
	}
	next := NewSyncer(SyncConfig{LocalFile: file, Instance: "c"})
	if out, _, _ := next.Restore(specs); out[0].Weight != 100 {
		t.Fatalf("restored %v", out[0].Weight)
	}
	tab := &table{w: map[string]float64{}}
	next.Attach(tab)
	next.SetStore(store)
	if err := next.SetRoutes(specs); err != nil {
		t.Fatal(err)
	}
	if tab.w["orders"] != 30 {
		t.Fatalf("after converging the table holds %v, want the bucket's 30", tab.w["orders"])
	}
	if saved, _ := loadLocal(file); saved["orders"].Weight != 30 {
		t.Fatalf("file after converging holds %v", saved["orders"].Weight)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(file), ".*")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	_ = os.Remove(file)
}

// A config reload while NATS is away is applied at once, not refused after
// a timeout: known routes keep the weights they have, a new route starts at
// the file's weight, and once NATS is back the bucket is seeded with it.
func TestReloadWhileNATSIsAway(t *testing.T) {
	n := testenv.MustStartNATS(t)
	nc := n.Connect(t, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	store, err := Open(t.Context(), Config{JS: js})
	if err != nil {
		t.Fatal(err)
	}
	newURL, _ := url.Parse("http://127.0.0.1:1")
	orders := route.Spec{Name: "orders", PathPrefix: "/orders", New: newURL, Weight: 0}
	s := NewSyncer(SyncConfig{Store: store, Instance: "a"})
	if _, err := s.Prepare(t.Context(), []route.Spec{orders}); err != nil {
		t.Fatal(err)
	}
	tbl := &table{w: map[string]float64{}}
	s.Attach(tbl)
	if _, err := store.Update(t.Context(), "orders", func(st State) (State, error) { st.Weight = 50; return st, nil }); err != nil {
		t.Fatal(err)
	}
	s.resyncAll(t.Context())

	n.Stop(t)
	for deadline := time.Now().Add(5 * time.Second); nc.IsConnected() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	refunds := route.Spec{Name: "refunds", PathPrefix: "/refunds", New: newURL, Weight: 10}
	if err := s.SetRoutes([]route.Spec{orders, refunds}); err != nil {
		t.Fatalf("reload while NATS is away: %v", err)
	}
	tbl.mu.Lock()
	got := map[string]float64{"orders": tbl.w["orders"], "refunds": tbl.w["refunds"]}
	tbl.mu.Unlock()
	if got["orders"] != 50 || got["refunds"] != 10 {
		t.Fatalf("weights after the reload: %v, want orders kept at 50 and refunds at the file's 10", got)
	}

	n.Restart(t)
	for deadline := time.Now().Add(10 * time.Second); !nc.IsConnected() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	s.resyncAll(t.Context())
	st, _, err := store.Get(t.Context(), "refunds")
	if err != nil || st.Weight != 10 {
		t.Fatalf("refunds in the bucket after NATS came back: %+v (%v), want seeded at 10", st, err)
	}
}
