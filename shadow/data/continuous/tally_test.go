package continuous

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// The tallies a rollout data gate sums: 100 keys written to both sides,
// 3 with a differing amount and 2 never written to new. Once max_lag has
// passed, PublishTallies reports on NATS 100 keys settled, 3 differing, 2
// missing in new, and every change compared.
func TestTallies(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := amountConfig(captureJS(ctx, t), time.Second)
	cfg.Registerer = prometheus.NewRegistry()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(rctx) }()
	defer func() { stop(); _ = <-done }() // Run's error once stopped is not what this test checks
	conn := cfg.JS.Conn()
	got := make(chan Tally, 16)
	sub, err := conn.Subscribe(TallyPrefix+"orders", func(m *nats.Msg) {
		var tl Tally
		if json.Unmarshal(m.Data, &tl) == nil {
			select {
			case got <- tl:
			default:
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	go PublishTallies(rctx, TallyConfig{Conn: conn, Instance: "p1", Comparers: []*Comparer{c}, Every: 50 * time.Millisecond})

	ev := func(key string, id, amount int) []byte {
		return fmt.Appendf(nil, `{"op":"c","before":null,"after":{%q:%d,"amount":"%d.00"},"key":{%q:%d},"source":{"ts_ms":%d}}`,
			key, id, amount, key, id, time.Now().UnixMilli())
	}
	js := cfg.JS
	const keys = 100
	for id := 1; id <= keys; id++ {
		if _, err := js.PublishAsync(cfg.Legacy.Subject, ev("id", id, id)); err != nil {
			t.Fatal(err)
		}
		amount := id
		if id%40 == 0 || id == 7 { // 40, 80 and 7 differ
			amount++
		}
		if id == 50 || id == 51 { // missing in new
			continue
		}
		if _, err := js.PublishAsync(cfg.New.Subject, ev("legacy_id", id, amount)); err != nil {
			t.Fatal(err)
		}
	}
	<-js.PublishAsyncComplete()
	var tl Tally
	for tl.Settled < keys {
		select {
		case tl = <-got:
		case <-ctx.Done():
			t.Fatalf("last tally %+v: want %d keys settled", tl, keys)
		}
	}
	if tl.Instance != "p1" || tl.Name != "orders" || tl.Settled != keys || tl.Differs != 3 || tl.MissingInNew != 2 ||
		tl.Missing() != 2 || tl.Changes != 2*keys-2 || tl.MaxLagSeconds != 1 || tl.Errors != 0 {
		t.Errorf("tally %+v", tl)
	}
	var compared uint64
	for _, n := range tl.Behind {
		compared += n
	}
	if compared != tl.Changes || tl.BehindQuantile(0.99) > 30 {
		t.Errorf("behind buckets %v (p99 %gs) for %d changes", tl.Behind, tl.BehindQuantile(0.99), tl.Changes)
	}
}

// Since and Add are what the gate sums a window with.
func TestTallyArithmetic(t *testing.T) {
	at := time.Unix(100, 0)
	base := Tally{Instance: "a", Started: at, Settled: 10, Differs: 1, Changes: 20, Behind: []uint64{5, 15}}
	last := Tally{Instance: "a", Started: at, Settled: 30, Differs: 4, MissingInLegacy: 2, Changes: 50, Behind: []uint64{10, 40, 1}}
	tests := []struct {
		name string
		base Tally
		want Tally
	}{
		{"same process", base, Tally{Settled: 20, Differs: 3, MissingInLegacy: 2, Changes: 30, Behind: []uint64{5, 25, 1}}},
		{"a restarted process counts from zero", Tally{Instance: "a", Started: at.Add(time.Second), Settled: 25},
			Tally{Settled: 30, Differs: 4, MissingInLegacy: 2, Changes: 50, Behind: []uint64{10, 40, 1}}},
		{"counters never go below zero", Tally{Instance: "a", Started: at, Settled: 99, Behind: []uint64{99}},
			Tally{Differs: 4, MissingInLegacy: 2, Changes: 50, Behind: []uint64{0, 40, 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := last.Since(tc.base)
			var sum Tally
			sum.Add(d)
			if sum.Settled != tc.want.Settled || sum.Differs != tc.want.Differs || sum.MissingInLegacy != tc.want.MissingInLegacy ||
				sum.Changes != tc.want.Changes || fmt.Sprint(sum.Behind) != fmt.Sprint(tc.want.Behind) {
				t.Errorf("got %+v, want %+v", sum, tc.want)
			}
		})
	}
	// p99 of 100 changes, 98 under 10 ms and 2 near 1 s: the 1 s bucket.
	b := make([]uint64, len(lagBuckets)+1)
	b[0], b[5] = 98, 2
	if q := (Tally{Behind: b}).BehindQuantile(0.99); q != 1 {
		t.Errorf("p99 %g, want 1", q)
	}
	if q := (Tally{}).BehindQuantile(0.99); q != 0 {
		t.Errorf("p99 without changes %g, want 0", q)
	}
}
