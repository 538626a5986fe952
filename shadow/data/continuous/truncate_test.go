package continuous

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// TestTruncate: a TRUNCATE on one side (op "t", as both captures publish
// it) deletes every key that side holds — keys the other side still has
// are reported deleted on one side, a key the truncated side never had
// stays missing rather than turning into a deletion — and the same
// TRUNCATE on the other side makes them all agree again.
func TestTruncate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cfg := amountConfig(captureJS(ctx, t), time.Second)
	js := cfg.JS
	cfg.Registerer = prometheus.NewRegistry()
	cfg.CacheKeys = 1 // no cache: every key is read from the bucket
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(rctx) }()
	defer func() { stop(); _ = <-done }() // Run's error once stopped is not what this test checks

	publish := func(subject, ev string) {
		t.Helper()
		if _, err := js.Publish(ctx, subject, []byte(ev)); err != nil {
			t.Fatal(err)
		}
	}
	row := func(subject, key string, id int) {
		publish(subject, fmt.Sprintf(`{"op":"c","before":null,"after":{%q:%d,"amount":"%d.00"},"key":{%q:%d},"source":{"ts_ms":%d}}`,
			key, id, id, key, id, time.Now().UnixMilli()))
	}
	truncate := func(subject string) {
		publish(subject, fmt.Sprintf(`{"op":"t","before":null,"after":null,"key":null,"source":{"ts_ms":%d}}`, time.Now().UnixMilli()))
	}
	wait := func(what string, ok func(Figures) bool) Figures {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if f := c.Figures(); ok(f) {
				return f
			}
		}
		t.Fatalf("%s: figures never settled: %+v", what, c.Figures())
		return Figures{}
	}
	for id := 1; id <= 3; id++ {
		row(c.cfg.Legacy.Subject, "id", id)
		row(c.cfg.New.Subject, "legacy_id", id)
	}
	row(c.cfg.Legacy.Subject, "id", 4) // never in new
	wait("before", func(f Figures) bool { return f.Matched == 3 && f.MissingInNew == 1 })

	truncate(c.cfg.New.Subject)
	f := wait("new truncated", func(f Figures) bool { return f.DeletedOneSide == 3 })
	if f.MissingInNew != 1 || f.Matched != 0 || f.Errors != 0 {
		t.Errorf("after TRUNCATE on new: %+v, want 3 deleted on one side, key 4 still missing in new", f)
	}
	truncate(c.cfg.Legacy.Subject)
	f = wait("both truncated", func(f Figures) bool { return f.Matched == 4 })
	if f.DeletedOneSide != 0 || f.MissingInNew != 0 || f.Errors != 0 {
		t.Errorf("after TRUNCATE on both: %+v, want every key matched (absent on both sides)", f)
	}

	// Findings: key 4 missing in new, keys 1-3 deleted in new, then all four resolved.
	cons, err := js.OrderedConsumer(ctx, FindingsStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		m, err := cons.Next(jetstream.FetchMaxWait(time.Second))
		if err != nil {
			break
		}
		var fd Finding
		if err := json.Unmarshal(m.Data(), &fd); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %s%s", fd.Key, fd.Kind, fd.DeletedIn))
	}
	slices.Sort(got)
	want := []string{"1 deleted_on_one_sidenew", "1 resolved", "2 deleted_on_one_sidenew", "2 resolved",
		"3 deleted_on_one_sidenew", "3 resolved", "4 missing_in_new", "4 resolved"}
	if !slices.Equal(got, want) {
		t.Errorf("findings %q, want %q", got, want)
	}
}
