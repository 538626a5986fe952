package mirror

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/cmd/ficus/testenv"
	"github.com/ficus-migrate/ficus/shadow/record"
)

// TestRecordedRedacted sends a request full of secrets through a shadowed
// route whose two sides disagree, and reads the record back from a real
// JetStream: it is complete, and no secret appears anywhere in it.
func TestRecordedRedacted(t *testing.T) {
	ns := testenv.StartNATS(t)
	nc, err := nats.Connect(ns.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec, err := record.New(ctx, record.Config{Conn: nc, RedactHeaders: []string{"X-Api-Key"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stopRec := context.WithCancel(ctx)
	recDone := make(chan struct{})
	go func() { defer close(recDone); _ = rec.Run(rctx) }()
	t.Cleanup(func() { stopRec(); <-recDone })

	side := func(price string) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Set-Cookie", "sid=s3cret-session-"+price)
			w.Header().Set("X-Api-Key", "s3cret-key-resp")
			io.WriteString(w, `{"price":`+price+`,"token":"s3cret-token-`+price+`","user":{"password":"s3cret-pw"}}`)
		}
	}
	legacy := newBackend(t, side("10"))
	nw := newBackend(t, side("12"))
	s := start(t, legacy.url(t), nw.url(t), 0, Config{Recorder: rec}, Route{Sample: 1, UnsafeMethods: true})
	s.do(t, http.MethodPost, "/orders?id=7&access_token=s3cret-query", `{"item":1,"password":"s3cret-body"}`, http.Header{
		"Authorization":       {"Bearer s3cret-auth"},
		"Proxy-Authorization": {"Basic s3cret-proxy"},
		"Cookie":              {"sid=s3cret-cookie"},
		"X-Api-Key":           {"s3cret-key"},
		"X-Trace":             {"visible"},
	})

	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := js.OrderedConsumer(ctx, record.StreamName, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		t.Fatalf("no record on %s: %v", record.StreamName, err)
	}
	if msg.Subject() != "ficus.shadow.r" {
		t.Errorf("subject %q, want ficus.shadow.r", msg.Subject())
	}
	raw := string(msg.Data())
	if strings.Contains(raw, "s3cret") {
		t.Errorf("a secret is in the record:\n%s", raw)
	}
	var m record.Mismatch
	if err := json.Unmarshal(msg.Data(), &m); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"route", m.Route, "r"},
		{"method", m.Method, "POST"},
		{"path", m.Path, "/orders?access_token=REDACTED&id=7"},
		{"served", m.Served, "legacy"},
		{"signature", m.Signature, "$.price,$.token"},
		{"authorization", m.RequestHeader.Get("Authorization"), "REDACTED"},
		{"configured header", m.RequestHeader.Get("X-Api-Key"), "REDACTED"},
		{"other header", m.RequestHeader.Get("X-Trace"), "visible"},
		{"set-cookie", m.New.Header.Get("Set-Cookie"), "REDACTED"},
		{"statuses", [2]int{m.Legacy.Status, m.New.Status}, [2]int{200, 200}},
		{"counts", m.Counts.Mismatched, uint64(1)},
		{"request body", m.RequestBody, `{"item":1,"password":"REDACTED"}`},
		{"new body", m.New.Body, `{"price":12,"token":"REDACTED","user":{"password":"REDACTED"}}`},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if m.Legacy.LatencyMS <= 0 || m.New.LatencyMS <= 0 {
		t.Errorf("latencies %v / %v ms, want both > 0", m.Legacy.LatencyMS, m.New.LatencyMS)
	}
}
