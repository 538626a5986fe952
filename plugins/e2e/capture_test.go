package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ficus-migrate/ficus/capture/postgres"
	"github.com/ficus-migrate/ficus/capture/sink"
	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/plugins/builtin"
	"github.com/ficus-migrate/ficus/plugins/host"
)

type captureEnv struct {
	pg  *testenv.Postgres
	js  jetstream.JetStream
	p   *host.Plugin
	met *host.Metrics
	seq uint64 // next stream sequence to read
}

// startCapture runs a PostgreSQL source whose events go through the
// order-mapper plugin into JetStream.
func startCapture(t *testing.T) *captureEnv {
	t.Helper()
	pg := testenv.MustStartPostgres(t)
	ns := testenv.MustStartNATS(t)
	nc := ns.Connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	pg.Exec(t, `CREATE TABLE orders (id int PRIMARY KEY, status text NOT NULL, total_cents bigint)`)
	pg.Exec(t, `CREATE TABLE customers (id int PRIMARY KEY, name text)`)

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	met, err := host.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	p, err := host.New(host.Config{Name: "order-mapper", Path: bins["order-mapper"], Env: map[string]string{"MAPPER_MODE": "strict"},
		CallTimeout: 2 * time.Second, MinBackoff: 20 * time.Millisecond, MaxFailures: 10, Logger: log, Metrics: met})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	ctx, cancel := context.WithCancel(context.Background())
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	src, err := postgres.New(postgres.Config{
		Name: "legacy", DSN: pg.DSN(), NATS: nc, StatusInterval: 200 * time.Millisecond,
		RetryMin: 100 * time.Millisecond, RetryMax: time.Second, Logger: log, Registerer: prometheus.NewRegistry(),
		Transform: builtin.Chain{p.Transformer()},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("source: %v", err)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for pg.QueryString(t, `SELECT count(*)::text FROM pg_stat_replication WHERE state = 'streaming'`) != "1" {
		if time.Now().After(deadline) {
			t.Fatal("source not streaming after 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &captureEnv{pg: pg, js: js, p: p, met: met, seq: 1}
}

type msg struct {
	subject, id string
	data        string
}

// read returns the messages after those already read once they hold at
// least n distinct ids.
func (e *captureEnv) read(t *testing.T, n int, timeout time.Duration) []msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []msg
	ids := map[string]bool{}
	for seq := e.seq; len(ids) < n; {
		st, err := e.js.Stream(ctx, sink.StreamName("legacy"))
		var m *jetstream.RawStreamMsg
		if err == nil {
			m, err = st.GetMsg(ctx, seq)
		}
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("%d distinct events after %s, want %d", len(ids), timeout, n)
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		out = append(out, msg{subject: m.Subject, id: m.Header.Get("Nats-Msg-Id"), data: string(m.Data)})
		ids[out[len(out)-1].id] = true
		seq++
		e.seq = seq
	}
	return out
}

func after(t *testing.T, data string) map[string]any {
	t.Helper()
	var env struct {
		After map[string]any `json:"after"`
	}
	if err := json.Unmarshal([]byte(data), &env); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
	return env.After
}

// TestCapture shares one PostgreSQL, NATS and plugin between its steps.
func TestCapture(t *testing.T) {
	e := startCapture(t)
	t.Run("events mapped end to end", func(t *testing.T) { throughPlugin(t, e) })
	t.Run("plugin killed mid-stream", func(t *testing.T) { pluginKilled(t, e) })
}

func throughPlugin(t *testing.T, e *captureEnv) {
	e.pg.Exec(t, `INSERT INTO orders VALUES (1, 'P', 1999), (2, 'S', 5)`)
	e.pg.Exec(t, `INSERT INTO customers VALUES (7, 'Ada')`)
	e.pg.Exec(t, `UPDATE orders SET status = 'C' WHERE id = 2`)
	got := e.read(t, 4, 30*time.Second)
	want := []struct {
		subject string
		after   string
	}{
		{"ficus.cdc.legacy.public.orders_v2", `{"id":1,"status":"paid","total":"19.99"}`},
		{"ficus.cdc.legacy.public.orders_v2", `{"id":2,"status":"shipped","total":"0.05"}`},
		{"ficus.cdc.legacy.public.customers", `{"id":7,"name":"Ada"}`},
		{"ficus.cdc.legacy.public.orders_v2", `{"id":2,"status":"cancelled","total":"0.05"}`},
	}
	if len(got) != len(want) {
		t.Fatalf("%d messages, want %d", len(got), len(want))
	}
	for i, w := range want {
		a, _ := json.Marshal(after(t, got[i].data))
		if got[i].subject != w.subject || string(a) != w.after {
			t.Errorf("message %d: %s %s\nwant %s %s", i, got[i].subject, a, w.subject, w.after)
		}
	}
}

// pluginKilled kills the plugin with SIGKILL again and again
// while transactions stream: every event must land exactly once in content
// (a repeat, if any, byte-identical) and mapped.
func pluginKilled(t *testing.T, e *captureEnv) {
	const txs, perTx = 60, 20
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range txs {
			e.pg.Exec(t, fmt.Sprintf(`INSERT INTO orders SELECT g, 'N', g FROM generate_series(%d, %d) g`, 100+i*perTx, 100+i*perTx+perTx-1))
			// Paced, so that the stream lasts for several kills however
			// fast the machine is (60 × 30 ms ≈ 2 s, a kill every 250 ms).
			time.Sleep(30 * time.Millisecond)
		}
	}()
	kills := 0
	stop := time.After(20 * time.Second)
	writing := make(chan struct{})
	go func() { wg.Wait(); close(writing) }()
loop:
	for {
		select {
		case <-writing:
			break loop
		case <-stop:
			break loop
		case <-time.After(250 * time.Millisecond):
			if pid := e.p.Pid(); pid > 0 {
				if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
					kills++
				}
			}
		}
	}
	wg.Wait()
	if kills < 2 {
		t.Fatalf("only %d kills landed while writing", kills)
	}
	got := e.read(t, txs*perTx, 60*time.Second)
	seen := map[string]string{}
	for _, m := range got {
		if prev, ok := seen[m.id]; ok && prev != m.data {
			t.Fatalf("event %s published twice with different contents:\n%s\n%s", m.id, prev, m.data)
		}
		seen[m.id] = m.data
		a := after(t, m.data)
		if m.subject != "ficus.cdc.legacy.public.orders_v2" || a["status"] != "new" || a["total"] == nil {
			t.Fatalf("event %s not mapped: %s %s", m.id, m.subject, m.data)
		}
	}
	ids := map[float64]bool{}
	for _, d := range seen {
		ids[after(t, d)["id"].(float64)] = true
	}
	if len(ids) != txs*perTx {
		t.Fatalf("%d distinct rows, want %d", len(ids), txs*perTx)
	}
	if r := testutil.ToFloat64(e.met.Restarts()); r < 1 {
		t.Errorf("no restart counted after %d kills", kills)
	}
	t.Logf("%d kills, %d messages for %d events", kills, len(got), txs*perTx)
}
