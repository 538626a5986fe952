package progresskv

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
	"github.com/ficus-migrate/ficus/shadow/data/reconcile"
)

// Saves keep the differences of every checkpoint, in order, split in
// chunks that fit a NATS message; a store opened anew loads them all with
// the last state and goes on counting chunks from there; Delete leaves
// nothing to load.
func TestSaveLoad(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := testenv.MustStartNATS(t)
	js, err := jetstream.New(ns.Connect(t))
	if err != nil {
		t.Fatal(err)
	}
	s := New(js, "orders-eu")
	if s.Bucket() != "ficus_reconcile_orders_eu" {
		t.Errorf("bucket %q", s.Bucket())
	}
	if got, err := s.Load(ctx); got != nil || err != nil {
		t.Fatalf("nothing kept yet: %+v, %v", got, err)
	}
	big := strings.Repeat("x", 100<<10) // three of them pass a chunk's 256 KB
	diff := func(k int64, v string) reconcile.Difference {
		return reconcile.Difference{Key: k, Kind: reconcile.MissingInNew, LegacyRow: []canon.Value{{Text: v}, {Null: true}}}
	}
	saves := []reconcile.Checkpoint{
		{State: reconcile.Saved{Version: reconcile.SavedVersion, Pass: 1, Todo: []reconcile.SavedRange{{Lo: 1, Hi: 10, Step: 1}}}},
		{State: reconcile.Saved{Version: reconcile.SavedVersion, Pass: 1}, Found: []reconcile.Difference{diff(1, "a"), diff(2, "b")}},
		{State: reconcile.Saved{Version: reconcile.SavedVersion, Pass: 2, Next: []reconcile.SavedRange{{Lo: 5, Hi: 9, Step: 2}}},
			Found: []reconcile.Difference{diff(3, big), diff(4, big), diff(5, big), diff(6, big)}},
	}
	for _, c := range saves {
		if err := s.Save(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	got, err := New(js, "orders-eu").Load(ctx)
	if err != nil || got == nil {
		t.Fatalf("load: %+v, %v", got, err)
	}
	if got.Pass != 2 || len(got.Next) != 1 || got.Next[0] != (reconcile.SavedRange{Lo: 5, Hi: 9, Step: 2}) || len(got.Todo) != 0 {
		t.Errorf("state %+v", got)
	}
	if got.DiffChunks < 3 || len(got.Differences) != 6 {
		t.Fatalf("%d chunks, %d differences; want at least 3 chunks (one, then the big ones split), 6 differences",
			got.DiffChunks, len(got.Differences))
	}
	for i, d := range got.Differences {
		if d.Key != int64(i+1) || !d.LegacyRow[1].Null || d.LegacyRow[1].Text != "" {
			t.Errorf("difference %d: key %d, row %v", i, d.Key, d.LegacyRow[1])
		}
	}
	// A store that loaded the state appends after its chunks.
	s2 := New(js, "orders-eu")
	if _, err := s2.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s2.Save(ctx, reconcile.Checkpoint{State: reconcile.Saved{Version: reconcile.SavedVersion, Pass: 2},
		Found: []reconcile.Difference{diff(7, "c")}}); err != nil {
		t.Fatal(err)
	}
	if got, err := s2.Load(ctx); err != nil || len(got.Differences) != 7 || got.Differences[6].Key != 7 {
		t.Fatalf("after a resumed save: %+v, %v", got, err)
	}
	if err := s2.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := s2.Load(ctx); got != nil || err != nil {
		t.Fatalf("after Delete: %+v, %v", got, err)
	}
	if err := s2.Delete(ctx); err != nil {
		t.Errorf("Delete with no bucket: %v", err)
	}
}
