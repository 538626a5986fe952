package bus

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func openEmbedded(t *testing.T, cfg EmbeddedConfig) *Bus {
	t.Helper()
	if cfg.StoreDir == "" {
		cfg.StoreDir = t.TempDir()
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := Open(ctx, Config{Embedded: cfg})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	return b
}

// An outside client (as the nats CLI or a consumer would) reaches JetStream on the
// embedded listener and gets a durable ack.
func TestEmbeddedServesOutsideClients(t *testing.T) {
	b := openEmbedded(t, EmbeddedConfig{SyncAlways: true})
	if !b.Embedded() || !strings.HasPrefix(b.ClientURL(), "nats://127.0.0.1:") {
		t.Fatalf("embedded=%v url=%q", b.Embedded(), b.ClientURL())
	}
	nc, err := nats.Connect(b.ClientURLWithCredentials())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatal(err)
	}
	ack, err := js.Publish(ctx, "t.x", []byte("hello"))
	if err != nil || ack.Sequence != 1 {
		t.Fatalf("publish: %v %+v", err, ack)
	}
	msg, err := b.JS.Stream(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	got, err := msg.GetMsg(ctx, 1)
	if err != nil || string(got.Data) != "hello" {
		t.Fatalf("get: %v %v", err, got)
	}
	if err := b.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if iv, always := b.SyncPolicy(); !always || iv != DefaultSyncInterval {
		t.Fatalf("SyncPolicy = %v %v", iv, always)
	}
}

func TestEmbeddedPortTakenNamesTheKey(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = Open(context.Background(), Config{Embedded: EmbeddedConfig{Listen: l.Addr().String(), StoreDir: t.TempDir()}})
	if err == nil {
		t.Fatal("Open on a taken port succeeded")
	}
	for _, want := range []string{"address already in use", "nats.embedded.listen", l.Addr().String()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// With nats.url set, ficus uses that server and starts none of its own; data written
// through one Bus is visible through the other, and the stream survives the
// embedded server's restart from the same store dir.
func TestURLModeAndRestartKeepsData(t *testing.T) {
	store := t.TempDir()
	srv := openEmbedded(t, EmbeddedConfig{StoreDir: store})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client, err := Open(ctx, Config{URLs: []string{srv.ClientURLWithCredentials()}, Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if client.Embedded() {
		t.Fatal("URL mode started an embedded server")
	}
	if _, err := client.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "K", Subjects: []string{"k"}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if _, err := client.JS.Publish(ctx, "k", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	addr := strings.TrimPrefix(srv.ClientURL(), "nats://")
	if err := srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	again := openEmbedded(t, EmbeddedConfig{StoreDir: store, Listen: addr})
	st, err := again.JS.Stream(ctx, "K")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil || info.State.Msgs != 10 {
		t.Fatalf("after restart: %v msgs=%d", err, info.State.Msgs)
	}
}

// ficus must serve before NATS is there: Open returns at once with a Bus
// that is not ready, which connects by itself once a server listens.
func TestOpenDoesNotWaitForNATS(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	began := time.Now()
	b, err := Open(ctx, Config{URLs: []string{"nats://ficus:pw@" + addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("Open waited %v for an absent server", took)
	}
	if b.Ready(ctx) == nil {
		t.Fatal("Ready with no server")
	}
	openEmbedded(t, EmbeddedConfig{Listen: addr, Users: []User{{Name: "ficus", Password: "pw", Ficus: true}}})
	for b.Ready(ctx) != nil {
		if ctx.Err() != nil {
			t.Fatal("never connected once the server was up")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
