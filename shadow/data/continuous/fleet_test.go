package continuous

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestTwoProcessesOneComparison: two comparers with the same name share the
// durable consumers, as two ficus sidecars with the same compare_data do,
// so changes of one key are handled by either, in any order. Every key is
// written three times on legacy and once, finally, on new: the state must
// end at each side's last change (an older change applied late is
// ignored), every key matched, and nothing reported.
func TestTwoProcessesOneComparison(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const keys = 300
	cfg := amountConfig(captureJS(ctx, t), 5*time.Second)
	js := cfg.JS
	var comparers []*Comparer
	var stops []func()
	defer func() {
		for _, stop := range slices.Backward(stops) {
			stop()
		}
	}()
	for range 2 {
		cfg.Registerer = prometheus.NewRegistry()
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		rctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- c.Run(rctx) }()
		// Run's error once stopped is not what this test checks.
		stops = append(stops, func() { stop(); _ = <-done })
		comparers = append(comparers, c)
	}
	// Publish only once both have read the bucket and pull from both
	// durable consumers: one that recovered the bucket after the other had
	// stored keys would count those keys again.
	for _, side := range []struct{ stream, name string }{{cfg.Legacy.Stream, "legacy"}, {cfg.New.Stream, "new"}} {
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			cons, err := js.Consumer(ctx, side.stream, durableName(cfg.Name, side.name))
			if err == nil && cons.CachedInfo().NumWaiting >= 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("both comparers never pulled from the %s consumer (%v)", side.name, err)
			}
		}
	}
	ev := func(op, key string, id, amount int) []byte {
		return fmt.Appendf(nil, `{"op":%q,"before":null,"after":{%q:%d,"amount":"%d.00"},"key":{%q:%d},"source":{"ts_ms":%d}}`,
			op, key, id, amount, key, id, time.Now().UnixMilli())
	}
	for v := 1; v <= 3; v++ {
		op := "u"
		if v == 1 {
			op = "c"
		}
		for id := 1; id <= keys; id++ {
			if _, err := js.PublishAsync(cfg.Legacy.Subject, ev(op, "id", id, id*10+v)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for id := 1; id <= keys; id++ {
		if _, err := js.PublishAsync(cfg.New.Subject, ev("c", "legacy_id", id, id*10+3)); err != nil {
			t.Fatal(err)
		}
	}
	<-js.PublishAsyncComplete()

	// The figures of both processes add up (each counts the moves it made).
	var sum Figures
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		sum = Figures{}
		for _, c := range comparers {
			f := c.Figures()
			sum.KeysSeen += f.KeysSeen
			sum.Matched += f.Matched
			sum.Pending += f.Pending
			sum.Differing += f.Differing
			sum.Errors += f.Errors
		}
		if sum.Matched == keys && sum.Pending == 0 {
			break
		}
	}
	if sum.KeysSeen != keys || sum.Matched != keys || sum.Differing != 0 || sum.Errors != 0 {
		t.Errorf("figures of both processes together: %+v, want %d keys seen and matched", sum, keys)
	}
	kv, err := js.KeyValue(ctx, StateBucket(cfg.Name))
	if err != nil {
		t.Fatal(err)
	}
	for id := 1; id <= keys; id++ {
		e, err := kv.Get(ctx, strconv.Itoa(id))
		if err != nil {
			t.Fatalf("key %d: %v", id, err)
		}
		var k keyState
		if err := json.Unmarshal(e.Value(), &k); err != nil {
			t.Fatal(err)
		}
		want := strconv.Itoa(id*10 + 3)
		if len(k.Legacy.Values) != 1 || k.Legacy.Values[0] == nil || *k.Legacy.Values[0] != want || k.Status != statusMatch {
			t.Fatalf("key %d: state %s, want legacy's last amount %s and match", id, e.Value(), want)
		}
	}
	// Past max_lag: nothing was reported.
	time.Sleep(cfg.MaxLag + time.Second)
	info, err := js.Stream(ctx, FindingsStream)
	if err != nil {
		t.Fatal(err)
	}
	if n := info.CachedInfo().State.Msgs; n != 0 {
		t.Errorf("%d findings published for equal data", n)
	}
}
