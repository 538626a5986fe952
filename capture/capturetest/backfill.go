package capturetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/capture/backfill"
	"github.com/ficus-migrate/ficus/capture/sink"
)

// Replica is the table a consumer builds by applying a source's stream in
// order: row changes and backfill reads (op "r") upsert "after", deletes
// remove the key. It is the check of a backfill while streaming.
type Replica struct {
	// Rows is key JSON -> "after" JSON.
	Rows map[string]json.RawMessage
	// Reads and Changes are the op r and the c/u/d events applied.
	Reads, Changes int
}

// Replay applies every event of table in the stream, from the first to the
// last there is now (see ReplayStream). Call it once the reader has
// confirmed everything (Harness.WaitConfirmed).
func (h *H[D]) Replay(table string) *Replica {
	h.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := h.JS.Stream(ctx, sink.StreamName(SourceName))
	if err != nil {
		h.T.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		h.T.Fatal(err)
	}
	last := info.State.LastSeq
	return ReplayStream(ctx, h.T, st, table, func(seq uint64, _ string) bool { return seq >= last })
}

// ReplayStream applies the events of table in st in order, from the first
// until until(seq, key JSON) is true for an event, and fails the test at an
// op r event older than a change already applied: a key deleted earlier,
// or a row other than the one the changes before it left.
func ReplayStream(ctx context.Context, t testing.TB, st jetstream.Stream, table string, until func(seq uint64, key string) bool) *Replica {
	t.Helper()
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	it, err := cons.Messages()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Stop()
	go func() {
		<-ctx.Done()
		it.Stop() // Next returns at the deadline
	}()
	rep := &Replica{Rows: map[string]json.RawMessage{}}
	deleted := map[string]bool{}
	for {
		m, err := it.Next()
		if err != nil {
			t.Fatalf("replay: %v (%d reads and %d changes applied)", err, rep.Reads, rep.Changes)
		}
		md, err := m.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		seq := md.Sequence.Stream
		var ev struct {
			Op     string          `json:"op"`
			Before json.RawMessage `json:"before"`
			After  json.RawMessage `json:"after"`
			Key    json.RawMessage `json:"key"`
			Source struct {
				Table string `json:"table"`
			} `json:"source"`
		}
		if err := json.Unmarshal(m.Data(), &ev); err != nil || ev.Source.Table != table {
			if until(seq, "") {
				return rep
			}
			continue // schema events, other tables
		}
		k := string(ev.Key)
		switch ev.Op {
		case "r":
			rep.Reads++
			if deleted[k] {
				t.Errorf("seq %d: op r of key %s after its delete: %s", seq, k, m.Data())
			} else if prev, ok := rep.Rows[k]; ok && string(prev) != string(ev.After) {
				t.Errorf("seq %d: op r of key %s is older than a change already published:\n r    %s\n last %s", seq, k, ev.After, prev)
			}
			rep.Rows[k] = ev.After
		case "c", "u":
			rep.Changes++
			if old := oldKey(ev.Key, ev.Before); ev.Op == "u" && old != "" && old != k {
				delete(rep.Rows, old) // the key itself changed
				deleted[old] = true
			}
			rep.Rows[k] = ev.After
			delete(deleted, k)
		case "d":
			rep.Changes++
			delete(rep.Rows, k)
			deleted[k] = true
		default:
			t.Errorf("seq %d: unexpected op %q", seq, ev.Op)
		}
		if until(seq, k) {
			return rep
		}
	}
}

// oldKey is the key an update's before image had: key's columns, in key's
// order, with their values in before ("" when before lacks one).
func oldKey(key, before json.RawMessage) string {
	var vals map[string]json.RawMessage
	if json.Unmarshal(before, &vals) != nil || vals == nil {
		return ""
	}
	d := json.NewDecoder(bytes.NewReader(key))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for d.More() {
		t, err := d.Token()
		name, ok := t.(string)
		if err != nil || !ok {
			return ""
		}
		var skip json.RawMessage
		if d.Decode(&skip) != nil {
			return ""
		}
		v, ok := vals[name]
		if !ok {
			return ""
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		nb, _ := json.Marshal(name)
		b.Write(nb)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.String()
}

// Compact is the replica as the lines "<key>=<after>", sorted, for a diff
// with the table.
func (r *Replica) Compact() []string {
	out := make([]string, 0, len(r.Rows))
	for k, v := range r.Rows {
		out = append(out, k+"="+string(v))
	}
	slices.Sort(out)
	return out
}

// Diff is the first few lines in one list and not the other ("" if equal).
func Diff(got, want []string) string {
	g, w := map[string]bool{}, map[string]bool{}
	for _, s := range got {
		g[s] = true
	}
	for _, s := range want {
		w[s] = true
	}
	var b strings.Builder
	n := 0
	for _, s := range want {
		if !g[s] && n < 10 {
			fmt.Fprintf(&b, "  missing: %s\n", s)
			n++
		}
	}
	for _, s := range got {
		if !w[s] && n < 20 {
			fmt.Fprintf(&b, "  extra:   %s\n", s)
			n++
		}
	}
	return b.String()
}

// EnqueueActive retries Enqueue until the driver has started (the reader
// starts it once it streams).
func EnqueueActive(ctx context.Context, m *backfill.Manager, r backfill.Request) (backfill.Job, error) {
	for {
		j, err := m.Enqueue(ctx, r)
		if !errors.Is(err, backfill.ErrNotActive) || ctx.Err() != nil {
			return j, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitBackfilled waits until m's queue is empty, and fails the test if a
// backfill stopped on an error or ctx ends first.
func WaitBackfilled(ctx context.Context, t testing.TB, m *backfill.Manager, logs func() string) {
	t.Helper()
	for {
		st, err := m.Status(ctx)
		if err == nil && st.State == "idle" {
			if st.LastError != "" {
				t.Fatalf("backfill failed: %s", st.LastError)
			}
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("backfill not done: %+v, %v\nlogs:\n%s", st, err, logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// BackfillSize is the size of the readers' backfill-while-streaming test.
type BackfillSize struct {
	Rows, Chunk int
	// Writers write at once, each up to PerTick changes per 10 ms tick (a
	// ceiling: fewer when the database is slower).
	Writers, PerTick int
	// Timeout bounds the whole test.
	Timeout time.Duration
}

// BackfillScale is the scaled-down size make test runs (20,000 rows in
// chunks of 1,000, one writer at up to 800 changes/s), or the full
// one (300,000 rows in chunks of 10,000, four writers at up to 2,000
// changes/s together) with FICUS_BACKFILL_FULL=1 in the environment.
func BackfillScale() BackfillSize {
	if os.Getenv("FICUS_BACKFILL_FULL") == "1" {
		return BackfillSize{Rows: 300000, Chunk: 10000, Writers: 8, PerTick: 5, Timeout: 10 * time.Minute}
	}
	return BackfillSize{Rows: 20000, Chunk: 1000, Writers: 1, PerTick: 8, Timeout: 90 * time.Second}
}
