package sink

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/internal/testenv"
)

type pos string

func (p pos) String() string { return string(p) }

func change(id string) *capture.Change {
	return &capture.Change{Op: capture.OpCreate, ID: id, After: capture.Row{{Name: "id", Value: id}},
		Source: capture.SourceMeta{Connector: "test", Name: "my-src", Schema: "public", Table: "t"}, Time: time.Now()}
}

func TestNames(t *testing.T) {
	for _, c := range []struct{ in, want string }{{"legacy", "FICUS_CDC_LEGACY"}, {"my-src_2", "FICUS_CDC_MY_SRC_2"}} {
		if got := StreamName(c.in); got != c.want {
			t.Errorf("StreamName(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := Subject("ficus.cdc", "legacy", "public", "orders"); got != "ficus.cdc.legacy.public.orders" {
		t.Errorf("Subject = %q", got)
	}
}

func TestSinkDurability(t *testing.T) {
	ns := testenv.MustStartNATS(t)
	nc := ns.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := Config{Conn: nc, Source: "my-src", MaxPending: 4, AckTimeout: 2 * time.Second, ConfirmDelay: 300 * time.Millisecond,
		Stream: StreamConfig{DuplicateWindow: time.Minute, MaxAge: time.Hour}}
	s, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	info, err := s.JetStream().Stream(ctx, "FICUS_CDC_MY_SRC")
	if err != nil {
		t.Fatal(err)
	}
	sc := info.CachedInfo().Config
	if sc.Duplicates != MinDuplicateWindow || sc.Storage != jetstream.FileStorage || sc.Subjects[0] != "ficus.cdc.my-src.>" || sc.MaxAge != time.Hour {
		t.Errorf("stream config: dup %v storage %v subjects %v max_age %v", sc.Duplicates, sc.Storage, sc.Subjects, sc.MaxAge)
	}

	if s.Durable() != nil {
		t.Fatal("durable before anything was marked")
	}
	// More publishes than MaxPending: Publish must block, not fail.
	for i := range 10 {
		if err := s.Publish(ctx, change(fmt.Sprintf("id-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Mark(ctx, pos("p1")); err != nil {
		t.Fatal(err)
	}
	// Acknowledged quickly, but held back for ConfirmDelay.
	time.Sleep(100 * time.Millisecond)
	if d := s.Durable(); d != nil {
		t.Fatalf("durable %v before ConfirmDelay passed", d)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if d := s.Durable(); d != pos("p1") {
		t.Fatalf("durable = %v, want p1", d)
	}
	// Re-publishing the same ids is de-duplicated by the stream.
	for i := range 10 {
		if err := s.Publish(ctx, change(fmt.Sprintf("id-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Mark(ctx, pos("p2")); err != nil {
		t.Fatal(err)
	}
	// Notify fires once what was published before it is acknowledged,
	// without waiting out ConfirmDelay, and leaves Durable alone.
	notified := make(chan struct{})
	if err := s.Notify(ctx, func() { close(notified) }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-notified:
	case <-ctx.Done():
		t.Fatal("Notify never fired")
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	info, _ = s.JetStream().Stream(ctx, "FICUS_CDC_MY_SRC")
	if st, _ := info.Info(ctx); st.State.Msgs != 10 {
		t.Errorf("stream holds %d messages, want 10", st.State.Msgs)
	}
	msg, err := info.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != "ficus.cdc.my-src.public.t" || msg.Header.Get("Nats-Msg-Id") != "id-0" || msg.Header.Get("ce-type") != "io.ficus.cdc.create" {
		t.Errorf("message 1: subject %q headers %v", msg.Subject, msg.Header)
	}

	// With the server gone, a publish is never acknowledged: the sink fails and
	// nothing marked after it becomes durable.
	ns.Stop(t)
	if err := s.Publish(ctx, change("id-x")); err != nil {
		t.Logf("publish while down failed at once: %v", err)
	}
	_ = s.Mark(ctx, pos("p3"))
	late := make(chan struct{})
	_ = s.Notify(ctx, func() { close(late) })
	ferr := s.Flush(ctx)
	if ferr == nil || s.Err() == nil {
		t.Fatalf("Flush with the server down: %v, Err %v; want an error", ferr, s.Err())
	}
	if d := s.Durable(); d != pos("p2") {
		t.Fatalf("durable = %v after a failed publish, want p2", d)
	}
	select {
	case <-late:
		t.Fatal("Notify fired after a failed publish")
	default:
	}
	if err := s.Publish(ctx, change("id-y")); err == nil {
		t.Fatal("Publish on a failed sink succeeded")
	}
}
