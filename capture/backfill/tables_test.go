package backfill_test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/capture/backfill"
	"github.com/ficus-migrate/ficus/capture/sink"
	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// TestAddTables: which starts queue a backfill of which tables, and what a
// start records for the next one.
func TestAddTables(t *testing.T) {
	t.Parallel()
	n := testenv.MustStartNATS(t)
	js, err := jetstream.New(n.Connect(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cps, err := sink.OpenCheckpoints(ctx, js, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	type start struct {
		st              backfill.Start
		queued, removed []string
		queue           []string // the tables queued after it, in order
	}
	ab := []string{"public.a", "public.b"}
	for i, tc := range []struct {
		name   string
		starts []start
	}{
		{"first start snapshots, queues nothing", []start{
			{st: backfill.Start{Tables: ab, Snapshotted: true, Backfill: true}},
		}},
		{"no record yet (older ficus): nothing queued", []start{
			{st: backfill.Start{Tables: ab, Backfill: true}},
		}},
		{"table added", []start{
			{st: backfill.Start{Tables: []string{"public.a"}, Snapshotted: true, Backfill: true}},
			{st: backfill.Start{Tables: ab, Backfill: true}, queued: []string{"public.b"}, queue: []string{"public.b"}},
			// Restarted before the backfill ran: not queued twice.
			{st: backfill.Start{Tables: ab, Backfill: true}, queue: []string{"public.b"}},
		}},
		{"crash between queueing and recording: queued once", []start{
			{st: backfill.Start{Tables: []string{"public.a"}, Snapshotted: true, Backfill: true}},
			{st: backfill.Start{Tables: ab, Backfill: true}, queued: []string{"public.b"}, queue: []string{"public.b"}},
		}},
		{"snapshot never: added tables only stream", []start{
			{st: backfill.Start{Tables: []string{"public.a"}}},
			{st: backfill.Start{Tables: ab}},
		}},
		{"removed, added back: backfilled again", []start{
			{st: backfill.Start{Tables: ab, Snapshotted: true, Backfill: true}},
			{st: backfill.Start{Tables: []string{"public.a"}, Backfill: true}, removed: []string{"public.b"}},
			{st: backfill.Start{Tables: ab, Backfill: true}, queued: []string{"public.b"}, queue: []string{"public.b"}},
		}},
		{"every table: tables created since are not backfilled", []start{
			{st: backfill.Start{Tables: []string{"public.a"}, All: true, Snapshotted: true, Backfill: true}},
			{st: backfill.Start{Tables: ab, All: true, Backfill: true}},
		}},
		{"from a list to every table: the others are backfilled", []start{
			{st: backfill.Start{Tables: []string{"public.a"}, Snapshotted: true, Backfill: true}},
			{st: backfill.Start{Tables: []string{"public.a", "public.b", "public.c"}, All: true, Backfill: true},
				queued: []string{"public.b", "public.c"}, queue: []string{"public.b", "public.c"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			source := "s" + strconv.Itoa(i)
			mgr, err := backfill.New(backfill.Config{Source: source, Dialect: canon.Postgres, JS: js})
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tc.starts {
				queued, removed, err := mgr.AddTables(ctx, cps, s.st)
				if err != nil {
					t.Fatalf("start %d: %v", i+1, err)
				}
				if !slices.Equal(queued, s.queued) || !slices.Equal(removed, s.removed) {
					t.Errorf("start %d: queued %v, removed %v; want %v, %v", i+1, queued, removed, s.queued, s.removed)
				}
				st, err := mgr.Status(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if got := st.Queued + map[bool]int{true: 1}[st.Table != ""]; got != len(s.queue) || (got > 0 && st.Table != s.queue[0]) {
					t.Errorf("start %d: queue %+v, want %v", i+1, st, s.queue)
				}
				if tc.name == "crash between queueing and recording: queued once" && i == 1 {
					// The record of start 2 lost: start 2 again.
					if err := cps.Put(ctx, backfill.TablesKey(source), []byte(`{"tables":["public.a"]}`)); err != nil {
						t.Fatal(err)
					}
					if queued, _, err := mgr.AddTables(ctx, cps, s.st); err != nil || len(queued) != 0 {
						t.Errorf("start 2 again: queued %v, %v; want nothing (queued already)", queued, err)
					}
				}
			}
		})
	}
}
