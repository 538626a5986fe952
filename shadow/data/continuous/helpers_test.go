package continuous

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// captureJS starts a JetStream with the capture streams of the two sources
// the tests compare: shop (legacy) and svc (new).
func captureJS(ctx context.Context, t *testing.T) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(testenv.MustStartNATS(t).Connect(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"shop", "svc"} {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "FICUS_CDC_" + s, Subjects: []string{"ficus.cdc." + s + ".>"}}); err != nil {
			t.Fatal(err)
		}
	}
	return js
}

// amountConfig compares shop.orders (key id) with public.orders (key
// legacy_id) on one decimal column, amount, on captureJS's streams.
func amountConfig(js jetstream.JetStream, maxLag time.Duration) Config {
	return Config{
		Name:   "orders",
		Legacy: Side{Stream: "FICUS_CDC_shop", Subject: "ficus.cdc.shop.shop.orders", Key: "id", Columns: []string{"amount"}},
		New:    Side{Stream: "FICUS_CDC_svc", Subject: "ficus.cdc.svc.public.orders", Key: "legacy_id", Columns: []string{"amount"}},
		Kinds:  []canon.Kind{canon.KindDecimal},
		MaxLag: maxLag, JS: js, Sweep: 50 * time.Millisecond,
	}
}
