package continuous

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ficus-migrate/ficus/internal/testenv"
)

// A NATS outage longer than max_lag: the changes that would settle a key
// cannot arrive, so nothing is reported while NATS is away, no waiting key
// is lost, and once NATS is back each waiting key gets a full max_lag: a
// counterpart that the capture delivers then is a match, not a finding; a
// key whose counterpart never comes is reported, once.
func TestOutageNeitherReportsNorLosesWaitingKeys(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := testenv.MustStartNATS(t)
	js, err := jetstream.New(n.Connect(t, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"shop", "svc"} {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "FICUS_CDC_" + s, Subjects: []string{"ficus.cdc." + s + ".>"}}); err != nil {
			t.Fatal(err)
		}
	}
	const maxLag = 2 * time.Second
	cfg := amountConfig(js, maxLag)
	cfg.Registerer = prometheus.NewRegistry()
	logs := &testenv.LogBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(rctx) }()
	defer func() { stop(); _ = <-done }()
	publish := func(subject, key string, id int, amount string) {
		t.Helper()
		ev := fmt.Sprintf(`{"op":"c","before":null,"after":{%q:%d,"amount":%s},"key":{%q:%d},"source":{"ts_ms":%d}}`,
			key, id, amount, key, id, time.Now().UnixMilli())
		if _, err := js.Publish(ctx, subject, []byte(ev)); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(what string, ok func(Figures) bool) Figures {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if f := c.Figures(); ok(f) {
				return f
			}
		}
		t.Fatalf("%s: figures never settled: %+v; logs:\n%s", what, c.Figures(), logs.String())
		return Figures{}
	}

	// Two orders in legacy; new has neither yet.
	publish(cfg.Legacy.Subject, "id", 1, `"1.00"`)
	publish(cfg.Legacy.Subject, "id", 2, `"2.00"`)
	wait("before the outage", func(f Figures) bool { return f.KeysSeen == 2 && f.Pending == 2 })

	n.Stop(t)
	time.Sleep(maxLag + time.Second) // max_lag passes while NATS is away
	if f := c.Figures(); f.MissingInNew != 0 || f.Pending != 2 {
		t.Errorf("during the outage: %+v, want both keys still pending", f)
	}
	if !strings.Contains(logs.String(), HoldReason) {
		t.Errorf("the comparison did not say it holds; logs:\n%s", logs.String())
	}
	n.Restart(t)
	back := time.Now()
	for !js.Conn().IsConnected() && time.Since(back) < 10*time.Second {
		time.Sleep(20 * time.Millisecond)
	}

	// The capture delivers order 1's counterpart a second after NATS is back.
	time.Sleep(time.Second)
	publish(cfg.New.Subject, "legacy_id", 1, `1.00`)
	f := wait("after the outage", func(f Figures) bool { return f.Matched == 1 && f.MissingInNew == 1 })
	if f.Pending != 0 || f.Differing != 0 {
		t.Errorf("after the outage: %+v", f)
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
	if err := json.Unmarshal(m.Data(), &got); err != nil || got.Key != "2" || got.Kind != KindMissingInNew {
		t.Errorf("finding %s (%v), want order 2 missing in new", m.Data(), err)
	}
	if got.Time.Before(back.Add(maxLag - 100*time.Millisecond)) {
		t.Errorf("order 2 reported at %v, %v after NATS came back: want a full max_lag (%v) after it", got.Time, got.Time.Sub(back), maxLag)
	}
	if m, err := cons.Next(jetstream.FetchMaxWait(500 * time.Millisecond)); err == nil {
		t.Errorf("unexpected second finding %s", m.Data())
	}
}
