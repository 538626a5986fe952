package continuous

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

func TestTrailingWait(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	since := now.Add(-2 * time.Second).UnixMilli()
	legacyOnly := &keyState{Legacy: sideState{Seen: true, At: 10}, Status: statusPending, Since: since}
	newer := &keyState{Legacy: sideState{Seen: true, At: 10}, New: sideState{Seen: true, At: 20}, Status: statusPending, Since: since}
	cases := []struct {
		name            string
		k               *keyState
		legacyMs, newMs int64
		maxLag, want    time.Duration
	}{
		{"no side trails: due at max_lag", legacyOnly, 0, 0, time.Second, 0},
		{"new trails 3s: waits for it", legacyOnly, 0, 3000, time.Second, 2 * time.Second},
		{"legacy trailing does not delay a key new lacks", legacyOnly, 3000, 0, time.Second, 0},
		{"legacy is stale: its trail counts", newer, 3000, 0, time.Second, 2 * time.Second},
		{"capped at 10 × max_lag", legacyOnly, 0, 3_600_000, 100 * time.Millisecond, 0},
		{"cap still waits", legacyOnly, 0, 3_600_000, time.Second, 9 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var tr trailing
			tr.note(true, time.Duration(tc.legacyMs)*time.Millisecond)
			tr.note(false, time.Duration(tc.newMs)*time.Millisecond)
			if got := tr.wait(tc.k, tc.maxLag, now); got != tc.want {
				t.Errorf("wait = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestTrailingSideIsNotReportedMissing: the new side's capture runs seconds
// behind legacy's (its changes arrive long after their commit). A row
// written to both arrives on new after max_lag has passed since legacy's
// copy was compared: it is not reported, while a row that never reaches
// new still is.
func TestTrailingSideIsNotReportedMissing(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	js := captureJS(ctx, t)
	cfg := amountConfig(js, time.Second)
	cfg.Registerer = prometheus.NewRegistry()
	publish := func(subject, key string, id int, committed time.Time) {
		ev := fmt.Sprintf(`{"op":"c","before":null,"after":{%q:%d,"amount":"1.00"},"key":{%q:%d},"source":{"ts_ms":%d}}`,
			key, id, key, id, committed.UnixMilli())
		if _, err := js.Publish(ctx, subject, []byte(ev)); err != nil {
			t.Fatal(err)
		}
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(rctx) }()
	defer func() { stop(); _ = <-done }() // Run's error once stopped is not what this test checks
	wait := func(what string, ok func(Figures) bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if ok(c.Figures()) {
				return
			}
		}
		t.Fatalf("%s: figures %+v", what, c.Figures())
	}

	// New's stream runs 6 s behind its commits.
	for id := 1; id <= 3; id++ {
		now := time.Now()
		publish(cfg.Legacy.Subject, "id", id, now)
		publish(cfg.New.Subject, "legacy_id", id, now.Add(-6*time.Second))
	}
	wait("equal rows matched", func(f Figures) bool { return f.Matched == 3 })
	committed := time.Now()
	publish(cfg.Legacy.Subject, "id", 100, committed)
	publish(cfg.Legacy.Subject, "id", 200, committed) // never reaches new
	// Row 100 reaches new 2 s (twice max_lag) after legacy's copy: what a
	// trailing capture looks like. The sleep stands in for that lag.
	time.Sleep(2 * time.Second)
	publish(cfg.New.Subject, "legacy_id", 100, committed)
	wait("row 200 reported, row 100 matched", func(f Figures) bool { return f.MissingInNew == 1 && f.Matched == 4 })

	cons, err := js.OrderedConsumer(ctx, FindingsStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		m, err := cons.Next(jetstream.FetchMaxWait(time.Second))
		if err != nil {
			break
		}
		var f Finding
		if err := json.Unmarshal(m.Data(), &f); err != nil {
			t.Fatal(err)
		}
		if f.Key.String() != "200" || f.Kind != KindMissingInNew {
			t.Errorf("finding %s: only row 200 missing in new was expected", m.Data())
		}
	}
}
