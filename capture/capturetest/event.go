package capturetest

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/capture/subject"
)

// Event is one message of the source's stream.
type Event struct {
	Subject string
	Header  nats.Header
	Env     map[string]any             // the envelope, numbers as json.Number
	Fields  map[string]json.RawMessage // top-level fields, exactly as published
	Raw     []byte
}

// ID is the message id (Nats-Msg-Id), the change's Change.ID.
func (e Event) ID() string { return e.Header.Get(jetstream.MsgIDHeader) }

// Op is the envelope's op: c, u, d, r or t.
func (e Event) Op() string {
	op, _ := e.Env["op"].(string)
	return op
}

// Source is the envelope's source block.
func (e Event) Source() map[string]any {
	src, _ := e.Env["source"].(map[string]any)
	return src
}

// CheckEvent compares op, before, after and key as JSON, and the fixed parts
// of source and the headers; Harness.CheckPosition checks the engine's
// position fields.
func (h *H[D]) CheckEvent(e Event, table, op, before, after, key string, snapshot bool) {
	t := h.T
	t.Helper()
	id := e.ID()
	if e.Op() != op {
		t.Fatalf("event %s: op %q, want %q: %s", id, e.Op(), op, e.Raw)
	}
	for _, f := range []struct{ name, want string }{{"before", before}, {"after", after}, {"key", key}} {
		if got := string(e.Fields[f.name]); got != f.want {
			t.Errorf("event %s %s: %s\n want %s", id, f.name, got, f.want)
		}
	}
	if want := subject.Table("ficus.cdc", SourceName, h.hs.Schema, table, ""); e.Subject != want {
		t.Errorf("event %s: subject %q, want %q", id, e.Subject, want)
	}
	src := e.Source()
	for k, want := range map[string]any{"connector": h.hs.Connector, "name": SourceName, "db": database,
		"schema": h.hs.Schema, "table": table, "snapshot": snapshot} {
		if src[k] != want {
			t.Errorf("event %s: source.%s = %v, want %v", id, k, src[k], want)
		}
	}
	h.hs.CheckPosition(t, e, snapshot)
	if snapshot && !strings.HasPrefix(id, SourceName+":snap:"+h.hs.Schema+"."+table+":") {
		t.Errorf("snapshot event id %q", id)
	}
	if n, _ := e.Env["ts_ms"].(json.Number).Int64(); n < time.Now().Add(-time.Hour).UnixMilli() {
		t.Errorf("event %s: ts_ms %v", id, e.Env["ts_ms"])
	}
	if n, _ := src["ts_ms"].(json.Number).Int64(); n < time.Now().Add(-time.Hour).UnixMilli() {
		t.Errorf("event %s: source.ts_ms %v", id, src["ts_ms"])
	}
	opName := map[string]string{"c": "create", "u": "update", "d": "delete", "r": "read", "t": "truncate"}[op]
	for k, want := range map[string]string{"ce-specversion": "1.0", "ce-id": id, "ce-source": "/ficus/" + SourceName,
		"ce-type": "io.ficus.cdc." + opName, "ce-subject": h.hs.Schema + "." + table, "content-type": "application/json"} {
		if got := e.Header.Get(k); got != want {
			t.Errorf("event %s: header %s = %q, want %q", id, k, got, want)
		}
	}
	if _, err := time.Parse(time.RFC3339, e.Header.Get("ce-time")); err != nil {
		t.Errorf("event %s: ce-time: %v", id, err)
	}
}

// CheckDDL checks a schema change event of a reader that publishes them
// (Harness.PublishesDDL).
func (h *H[D]) CheckDDL(e Event, ddl string) {
	t := h.T
	t.Helper()
	if want := "ficus.cdc." + SourceName + "._ddl"; e.Subject != want {
		t.Fatalf("subject %q, want the ddl subject: %s", e.Subject, e.Raw)
	}
	if got := e.Env["ddl"]; got != ddl {
		t.Errorf("ddl %q, want %q", got, ddl)
	}
	if e.Env["schema"] != h.hs.Schema || e.Source()["connector"] != h.hs.Connector {
		t.Errorf("ddl event %s", e.Raw)
	}
	if e.Header.Get("ce-type") != "io.ficus.cdc.ddl" || e.ID() == "" {
		t.Errorf("ddl headers %v", e.Header)
	}
}
