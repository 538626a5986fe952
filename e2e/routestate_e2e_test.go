package e2e

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/testenv"
)

// Route weights live in the bucket ficus_routes: a weight set through one
// ficus is applied by every ficus within 1 s (seen through real proxied
// requests), a restart of all of them keeps it although the file says 0,
// and deleting the key resets the route to the file's weight.
func TestRouteWeightsSharedAcrossProcesses(t *testing.T) {
	t.Parallel()
	legacy, newSvc := backend("legacy"), backend("new")
	defer legacy.Close()
	defer newSvc.Close()
	n := testenv.MustStartNATS(t)
	f := startFleet(t, 3, n.URL, legacy.URL, fmt.Sprintf(sharedRoutes, newSvc.URL))
	const path = "/api/orders/1"
	for i := range f.members {
		if side, err := f.servedBy(i, path); err != nil || side != "legacy" {
			t.Fatalf("ficus %d before any change: served by %q (%v), want legacy", i, side, err)
		}
	}

	// Set through ficus 1; every process, polled by real requests, flips.
	began := time.Now()
	if _, err := f.routesCmd(1, "set", "orders-read", "--weight", "100"); err != nil {
		t.Fatal(err)
	}
	lag := f.waitAllServedBy(path, "new", 3*time.Second)
	t.Logf("weight 0 -> 100 set through ficus 1 applied by all 3 processes after %v (slowest)", lag.Sub(began).Round(time.Millisecond))
	if d := lag.Sub(began); d > time.Second {
		t.Errorf("applying a weight took %v across the fleet, want within 1 s", d)
	}

	// Restart all: the bucket, not the file (weight 0), decides from the first request.
	for i := range f.members {
		f.stop(i, syscall.SIGTERM)
	}
	for i := range f.members {
		f.start(i)
	}
	for i := range f.members {
		f.waitReady(i)
		if side, err := f.servedBy(i, path); err != nil || side != "new" {
			t.Fatalf("ficus %d after restart: first request served by %q (%v), want new", i, side, err)
		}
		if w, err := f.weight(i, "orders-read"); err != nil || w != 100 {
			t.Fatalf("ficus %d after restart: weight %v (%v), want 100", i, w, err)
		}
	}

	// Reset: deleting the key re-seeds the route from the config file.
	kv, err := jetstream.New(n.Connect(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bucket, err := kv.KeyValue(ctx, "ficus_routes")
	if err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	if err := bucket.Delete(ctx, "route.orders-read"); err != nil {
		t.Fatal(err)
	}
	lag = f.waitAllServedBy(path, "legacy", 3*time.Second)
	t.Logf("key deleted: all processes back at the file's weight after %v", lag.Sub(began).Round(time.Millisecond))
}
