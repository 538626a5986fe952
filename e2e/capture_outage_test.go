package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/testenv"
)

// Capture during a NATS outage with a writer running: nothing is confirmed
// to the database while NATS is away (the slot's confirmed position stands
// still), and afterwards every committed change is in the stream exactly
// once. The outage is the 30 s (see outage).
func TestCaptureThroughNATSOutage(t *testing.T) {
	t.Parallel() // it mostly waits out the outage
	if testing.Short() {
		t.Skip("outage test")
	}
	pg := testenv.MustStartPostgres(t)
	n := startNATSServer(t)
	pg.Exec(t, `CREATE TABLE ticks (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())`)
	cfg := writeConfig(t, fmt.Sprintf(`
nats: {url: %q}
admin: {listen: "127.0.0.1:0"}
data_dir: %q
capture:
  sources:
    - name: shop
      type: postgres
      dsn: %q
      tables: [public.ticks]
`, n.url, t.TempDir(), pg.DSN()))
	logs := &testenv.LogBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ficus logs (tail):\n%s", tail(logs.String(), 8000))
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	startFicus(t, buildFicus(t), logs, "capture", "-c", cfg)
	waitForSlot(ctx, t, pg, "ficus_shop")

	// The writer: one committed row per transaction, as fast as it goes.
	var committed atomic.Int64
	stop := make(chan struct{})
	writerDone := make(chan error, 1)
	go func() {
		conn, err := pgx.Connect(ctx, pg.DSN())
		if err != nil {
			writerDone <- err
			return
		}
		defer conn.Close(context.Background())
		for {
			select {
			case <-stop:
				writerDone <- nil
				return
			case <-time.After(2 * time.Millisecond):
			}
			if _, err := conn.Exec(ctx, `INSERT INTO ticks DEFAULT VALUES`); err != nil {
				writerDone <- err
				return
			}
			committed.Add(1)
		}
	}()
	confirmed := func() string {
		return pg.QueryString(t, `SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = 'ficus_shop'`)
	}

	time.Sleep(2 * time.Second)
	n.kill()
	time.Sleep(time.Second) // confirmations of what was acknowledged before the kill land
	atKill, rowsAtKill := confirmed(), committed.Load()
	time.Sleep(outage - time.Second)
	atEnd, rowsAtEnd := confirmed(), committed.Load()
	t.Logf("during the outage the writer committed %d rows; confirmed position %s -> %s", rowsAtEnd-rowsAtKill, atKill, atEnd)
	if atKill != atEnd {
		t.Errorf("the slot's confirmed position moved while NATS was away: %s -> %s", atKill, atEnd)
	}
	if rowsAtEnd == rowsAtKill {
		t.Error("the writer committed nothing during the outage; the test proves nothing")
	}
	n.start()
	time.Sleep(2 * time.Second)
	close(stop)
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	want := committed.Load()

	nc, err := nats.Connect(n.url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	st := waitForMessages(ctx, t, js, "FICUS_CDC_SHOP", uint64(want))
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	info, _ := st.Info(ctx)
	ids := map[string]int{}
	msgIDs := map[string]bool{}
	for range info.State.Msgs {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		id := m.Headers().Get("Nats-Msg-Id")
		if msgIDs[id] {
			t.Errorf("Nats-Msg-Id %s twice in the stream", id)
		}
		msgIDs[id] = true
		var ev cdcEvent
		if err := json.Unmarshal(m.Data(), &ev); err != nil {
			t.Fatal(err)
		}
		ids[fmt.Sprint(ev.After["id"])]++
	}
	t.Logf("%d rows committed, %d events in the stream", want, info.State.Msgs)
	if int64(len(ids)) != want || uint64(want) != info.State.Msgs {
		t.Errorf("stream holds %d events for %d distinct rows, want %d each", info.State.Msgs, len(ids), want)
	}
	for id, c := range ids {
		if c != 1 {
			t.Errorf("row %s in the stream %d times", id, c)
		}
	}
}
