package sink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/internal/testenv"
)

func TestClassify(t *testing.T) {
	api := func(code jetstream.ErrorCode) error {
		return fmt.Errorf("publish x: %w", &jetstream.APIError{Code: 400, ErrorCode: code, Description: "d"})
	}
	for _, tc := range []struct {
		name      string
		err       error
		permanent bool
	}{
		{"invalid subject", fmt.Errorf("publish x to a b: %w", nats.ErrBadSubject), true},
		{"over max_payload", fmt.Errorf("publish x: %w", nats.ErrMaxPayload), true},
		{"over the stream's max_msg_size", api(10054), true},
		{"subject stored by another stream", api(10060), true},
		{"subjects overlap another stream", api(10065), true},
		{"already permanent", capture.Permanent(errors.New("x")), true},
		{"ack timeout", fmt.Errorf("publish x: %w", nats.ErrTimeout), false},
		{"no responders", fmt.Errorf("publish x: %w", nats.ErrNoResponders), false},
		{"no stream response", fmt.Errorf("publish x: %w", jetstream.ErrNoStreamResponse), false},
		{"store failed", api(10077), false},
		{"connection closed", fmt.Errorf("publish x: %w", nats.ErrConnectionClosed), false},
		{"context", context.DeadlineExceeded, false},
	} {
		if got := capture.IsPermanent(classify(tc.err)); got != tc.permanent {
			t.Errorf("%s (%v): permanent %v, want %v", tc.name, tc.err, got, tc.permanent)
		}
	}
}

// A table with any name gets its mapped subject (or its override); an event
// over the server's max_payload fails the sink with a permanent error naming
// the table, after the events before it were stored.
func TestSinkSubjectsAndPermanentFailure(t *testing.T) {
	t.Parallel()
	ns := testenv.MustStartNATSWith(t, testenv.NATSOptions{MaxPayload: 4096})
	nc := ns.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := New(ctx, Config{Conn: nc, Source: "my-src", AckTimeout: 5 * time.Second,
		Subjects: map[string]string{"public.Over Ride": "overridden"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	at := func(id, schema, table string, value string) *capture.Change {
		c := change(id)
		c.Source.Schema, c.Source.Table = schema, table
		c.After = capture.Row{{Name: "v", Value: value}}
		return c
	}
	want := map[string]string{ // id → subject
		"a": "ficus.cdc.my-src.public.Weird%20Table",
		"b": "ficus.cdc.my-src.My%20Schema.a%2Eb",
		"c": "ficus.cdc.my-src.public.overridden",
		"d": "ficus.cdc.my-src.public.Gr%C3%B6%C3%9Fe%24",
		"e": "ficus.cdc.my-src.public.two%0Alines",
	}
	ceSubject := map[string]string{"a": "public.Weird Table", "b": "My Schema.a.b", "d": "public.Größe$", "e": "public.two%0Alines"}
	for _, c := range []*capture.Change{at("a", "public", "Weird Table", "1"), at("b", "My Schema", "a.b", "2"),
		at("c", "public", "Over Ride", "3"), at("d", "public", "Größe$", "4"), at("e", "public", "two\nlines", "5")} {
		if err := s.Publish(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	err = s.Publish(ctx, at("big", "public", "Big Rows", strings.Repeat("x", 8192)))
	if err == nil {
		err = s.Flush(ctx)
	}
	if !capture.IsPermanent(err) || !strings.Contains(err.Error(), "public.Big Rows") || !errors.Is(err, nats.ErrMaxPayload) {
		t.Fatalf("publish over max_payload: %v; want a permanent error naming public.Big Rows", err)
	}
	if !capture.IsPermanent(s.Err()) {
		t.Fatalf("sink error after the failure: %v", s.Err())
	}

	st, err := s.JetStream().Stream(ctx, "FICUS_CDC_MY_SRC")
	if err != nil {
		t.Fatal(err)
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for range want {
		msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		id := msg.Headers().Get(nats.MsgIdHdr)
		if msg.Subject() != want[id] {
			t.Errorf("event %s on %q, want %q", id, msg.Subject(), want[id])
		}
		if w, ok := ceSubject[id]; ok && msg.Headers().Get("ce-subject") != w {
			t.Errorf("event %s: ce-subject %q, want the real names %q", id, msg.Headers().Get("ce-subject"), w)
		}
		delete(want, id)
	}
}
