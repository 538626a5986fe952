package continuous

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// TestRestartKeepsStateAndPending runs a comparer on a real JetStream,
// stops it while a key is pending, and starts a new one: the new one
// neither re-reads acknowledged changes nor forgets the pending key, which
// it reports once max_lag has passed.
func TestRestartKeepsStateAndPending(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := captureJS(ctx, t)
	cfg := Config{
		Name:   "orders",
		Legacy: Side{Stream: "FICUS_CDC_shop", Subject: "ficus.cdc.shop.shop.orders", Key: "id", Columns: []string{"amount"}, Rules: []canon.Rule{{Scale: "100"}}},
		New:    Side{Stream: "FICUS_CDC_svc", Subject: "ficus.cdc.svc.public.orders", Key: "legacy_id", Columns: []string{"total"}},
		Kinds:  []canon.Kind{canon.KindDecimal},
		MaxLag: 2 * time.Second, JS: js, Sweep: 50 * time.Millisecond,
	}
	publish := func(subject, key string, id int, amount string) {
		ev := fmt.Sprintf(`{"op":"c","before":null,"after":{%q:%d,"amount":%s,"total":%s},"key":{%q:%d},"source":{"ts_ms":%d}}`,
			key, id, amount, amount, key, id, time.Now().UnixMilli())
		if _, err := js.Publish(ctx, subject, []byte(ev)); err != nil {
			t.Fatal(err)
		}
	}
	start := func() (*Comparer, context.CancelFunc, chan error) {
		cfg.Registerer = prometheus.NewRegistry()
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		rctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- c.Run(rctx) }()
		return c, stop, done
	}
	wait := func(c *Comparer, ok func(Figures) bool) Figures {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if f := c.Figures(); ok(f) {
				return f
			}
		}
		t.Fatalf("figures never settled: %+v", c.Figures())
		return Figures{}
	}

	a, stopA, doneA := start()
	publish(cfg.Legacy.Subject, "id", 1, `"1.50"`)
	publish(cfg.New.Subject, "legacy_id", 1, `150`)
	publish(cfg.Legacy.Subject, "id", 2, `"2.00"`)
	wait(a, func(f Figures) bool { return f.KeysSeen == 2 && f.Matched == 1 && f.Pending == 1 })
	stopA()
	_ = <-doneA // Run's error once stopped is not what this test checks

	b, stopB, doneB := start()
	defer func() { stopB(); _ = <-doneB }()
	// Recovered from the bucket at once, before max_lag passes.
	f := wait(b, func(f Figures) bool { return f.KeysSeen == 2 })
	if f.Matched != 1 || f.Pending != 1 || f.MissingInNew != 0 {
		t.Errorf("after restart: %+v", f)
	}
	f = wait(b, func(f Figures) bool { return f.MissingInNew == 1 })
	if f.KeysSeen != 2 || f.Pending != 0 || f.Matched != 1 {
		t.Errorf("after max_lag: %+v (acknowledged changes read twice?)", f)
	}
	cons, err := js.OrderedConsumer(ctx, FindingsStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got Finding
	if err := json.Unmarshal(m.Data(), &got); err != nil || got.Key != "2" || got.Kind != KindMissingInNew || m.Subject() != "ficus.data.orders" {
		t.Errorf("finding %s on %s (%v)", m.Data(), m.Subject(), err)
	}
	if m, err := cons.Next(jetstream.FetchMaxWait(500 * time.Millisecond)); err == nil {
		t.Errorf("unexpected second finding %s", m.Data())
	}
}
