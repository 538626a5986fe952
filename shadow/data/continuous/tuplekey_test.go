package continuous

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// TestTupleKeyRestart: a composite key (text that differs in case only,
// integer) keyed by its canonical tuple: 'a' and 'A' are two keys; the
// state survives a restart through its bucket key, and the finding shows
// the key as the JSON array of its texts.
func TestTupleKeyRestart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := captureJS(ctx, t)
	cfg := Config{
		Name:     "lines",
		Legacy:   Side{Stream: "FICUS_CDC_shop", Subject: "ficus.cdc.shop.shop.lines", KeyColumns: []string{"code", "line"}, Columns: []string{"qty"}},
		New:      Side{Stream: "FICUS_CDC_svc", Subject: "ficus.cdc.svc.public.lines", KeyColumns: []string{"code", "line"}, Columns: []string{"qty"}},
		Kinds:    []canon.Kind{canon.KindInteger},
		KeyKinds: []canon.Kind{canon.KindText, canon.KindInteger},
		MaxLag:   2 * time.Second, JS: js, Sweep: 50 * time.Millisecond,
	}
	publish := func(subject, code string, line, qty int) {
		ev := fmt.Sprintf(`{"op":"c","before":null,"after":{"code":%q,"line":%d,"qty":%d},"source":{"ts_ms":%d}}`,
			code, line, qty, time.Now().UnixMilli())
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
	publish(cfg.Legacy.Subject, "a", 1, 5)
	publish(cfg.New.Subject, "a", 1, 5)
	publish(cfg.Legacy.Subject, "A", 1, 5) // another key: only in legacy
	wait(a, func(f Figures) bool { return f.KeysSeen == 2 && f.Matched == 1 && f.Pending == 1 })
	stopA()
	_ = <-doneA

	b, stopB, doneB := start()
	defer func() { stopB(); _ = <-doneB }()
	f := wait(b, func(f Figures) bool { return f.KeysSeen == 2 })
	if f.Matched != 1 || f.Pending != 1 {
		t.Errorf("after restart: %+v", f)
	}
	wait(b, func(f Figures) bool { return f.MissingInNew == 1 })
	cons, err := js.OrderedConsumer(ctx, FindingsStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got Finding
	if err := json.Unmarshal(m.Data(), &got); err != nil || got.Key != `["A","1"]` || got.Kind != KindMissingInNew ||
		!strings.Contains(string(m.Data()), `"key":["A","1"]`) {
		t.Errorf("finding %s (%v)", m.Data(), err)
	}
	kv, err := js.KeyValue(ctx, StateBucket(cfg.Name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, Key(`["a","1"]`).bucketKey()); err != nil {
		t.Errorf("state of [\"a\",\"1\"]: %v", err)
	}
}
