package capturetest

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/capture/backfill"
	"github.com/ficus-migrate/ficus/capture/sink"
	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// Sizes of RunAddedTables.
const (
	addedARows = 50    // rows of a, the table captured from the start
	addedBRows = 12000 // rows of b, the table added later: two chunks (backfill.DefaultChunk)
)

// RunAddedTables runs the added-tables scenario against the reader hs
// describes: a source started with tables [a] while a writer changes a,
// restarted with [a, b] where b has rows already: b's rows arrive as op r
// (its backfill, queued at the start) and then its changes as c/u/d, with
// no initial snapshot of a again, and a's stream has no gap and no
// duplicate across the restart and the backfill. Restarted with [b], a
// is no longer published.
func RunAddedTables[D DB](t *testing.T, hs Harness[D], dialect canon.Engine) {
	t.Parallel()
	h := New(t, hs)
	a, b := hs.Schema+".a", hs.Schema+".b"
	h.exec("CREATE TABLE a (id int PRIMARY KEY, v int NOT NULL)", "CREATE TABLE b (id int PRIMARY KEY, v int NOT NULL)")
	model := map[string]map[int]int{"a": {}, "b": {}}
	h.exec(insertRows("a", 1, addedARows, model["a"]), insertRows("b", 1, addedBRows, model["b"]))
	mgr, err := backfill.New(backfill.Config{Source: SourceName, Dialect: dialect, JS: h.JS,
		Logger: h.Logger(), Registerer: h.Registry})
	if err != nil {
		t.Fatal(err)
	}
	h.Backfill = mgr
	w := &writer[D]{h: h, model: model["a"], seq: 3}
	var want []string // a's changes in order: "op key after"

	// Started with [a]: its snapshot, then its changes; b's are not captured.
	h.StartSource(a)
	w.start()
	time.Sleep(time.Second)
	h.exec("UPDATE b SET v = v + 1000000 WHERE id <= 10")
	for id := 1; id <= 10; id++ {
		model["b"][id] += 1000000
	}
	want = append(want, w.stop()...)
	hs.WaitConfirmed(h)
	h.Stop()
	// Changes of a while no reader runs.
	want = append(want, w.run(20)...)

	// Restarted with [a, b]: b is backfilled while a's writer runs.
	h.StartSource(a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w.start()
	WaitBackfilled(ctx, t, mgr, h.Logs)
	time.Sleep(300 * time.Millisecond)
	want = append(want, w.stop()...)
	var wantB []string
	for id := 1; id <= 5; id++ {
		h.exec(fmt.Sprintf("UPDATE b SET v = v + 1 WHERE id = %d", id))
		model["b"][id]++
		wantB = append(wantB, fmt.Sprintf(`u {"id":%d} {"id":%d,"v":%d}`, id, id, model["b"][id]))
	}
	for id := 6; id <= 8; id++ {
		h.exec(fmt.Sprintf("DELETE FROM b WHERE id = %d", id))
		delete(model["b"], id)
		wantB = append(wantB, fmt.Sprintf(`d {"id":%d}`, id))
	}
	h.exec(insertRows("b", addedBRows+1, addedBRows+3, model["b"]))
	for id := addedBRows + 1; id <= addedBRows+3; id++ {
		wantB = append(wantB, fmt.Sprintf(`c {"id":%d} {"id":%d,"v":%d}`, id, id, id))
	}
	hs.WaitConfirmed(h)

	evs := h.allEvents(ctx)
	checkTable(t, evs, "a", addedARows, want)
	checkTable(t, evs, "b", addedBRows, wantB)
	for name, m := range model {
		if d := Diff(h.Replay(name).Compact(), modelLines(m)); d != "" {
			t.Errorf("replaying %s's events differs from the table:\n%s", name, d)
		}
	}
	if got := h.Metric("ficus_capture_backfill_rows_total", map[string]string{"table": b}); got != addedBRows {
		t.Errorf("backfilled rows of b = %v, want %d", got, addedBRows)
	}
	if got := h.Metric("ficus_capture_backfill_rows_total", map[string]string{"table": a}); got > 0 {
		t.Errorf("a was backfilled (%v rows): only added tables are", got)
	}

	// Restarted with [b]: a's changes are no longer published.
	h.Stop()
	h.exec("INSERT INTO a VALUES (999999, 1)", "UPDATE b SET v = 7 WHERE id = 1")
	h.StartSource(b)
	h.exec("INSERT INTO a VALUES (999998, 1)", "UPDATE b SET v = 8 WHERE id = 1")
	hs.WaitConfirmed(h)
	var after []string
	for _, e := range h.allEvents(ctx)[len(evs):] {
		if tbl, _ := e.Source()["table"].(string); tbl != "" {
			after = append(after, tbl+" "+e.Op())
		}
	}
	if !slices.Equal(after, []string{"b u", "b u"}) {
		t.Errorf("events after a was removed: %v, want b's two updates", after)
	}
	h.Stop()
	if testing.Verbose() || strings.Contains(h.Logs(), "level=ERROR") {
		t.Logf("logs:\n%s", h.Logs())
	}
}

// checkTable checks table's events in stream order: first rows op r events,
// keys 1 to rows once each, then exactly the changes want.
func checkTable(t *testing.T, evs []Event, table string, rows int, want []string) {
	t.Helper()
	var reads int
	seen := map[string]bool{}
	var got []string
	for _, e := range evs {
		if tbl, _ := e.Source()["table"].(string); tbl != table {
			continue
		}
		k := string(e.Fields["key"])
		if e.Op() == "r" {
			if len(got) > 0 {
				t.Errorf("%s: op r of %s after a change (event %s)", table, k, e.ID())
			}
			if seen[k] {
				t.Errorf("%s: op r of %s twice", table, k)
			}
			seen[k] = true
			reads++
			continue
		}
		line := e.Op() + " " + k
		if e.Op() != "d" {
			line += " " + string(e.Fields["after"])
		}
		got = append(got, line)
	}
	if reads != rows {
		t.Errorf("%s: %d op r events, want %d (the rows it had when it was first captured)", table, reads, rows)
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: %d changes, want %d; first difference: %s", table, len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(got, want []string) string {
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			return fmt.Sprintf("#%d got %q, want %q", i, g, w)
		}
	}
	return "none"
}

// allEvents reads the whole stream as it is now.
func (h *H[D]) allEvents(ctx context.Context) []Event {
	h.T.Helper()
	st, err := h.JS.Stream(ctx, sink.StreamName(SourceName))
	if err != nil {
		h.T.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		h.T.Fatal(err)
	}
	out := make([]Event, 0, info.State.Msgs)
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		e, err := h.get(ctx, seq)
		if err != nil {
			h.T.Fatalf("read event %d: %v", seq, err)
		}
		out = append(out, e)
	}
	return out
}

func insertRows(table string, from, to int, model map[int]int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + table + " VALUES ")
	for id := from; id <= to; id++ {
		if id > from {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "(%d,%d)", id, id)
		model[id] = id
	}
	return b.String()
}

func modelLines(m map[int]int) []string {
	out := make([]string, 0, len(m))
	for id, v := range m {
		out = append(out, fmt.Sprintf(`{"id":%d}={"id":%d,"v":%d}`, id, id, v))
	}
	slices.Sort(out)
	return out
}

// writer changes table a one row per statement: change seq inserts key
// 100000+seq, updates a key of the first rows or deletes the key inserted
// three changes before, and every row it writes holds seq, so a's events
// in stream order must be exactly its changes in order.
type writer[D DB] struct {
	h     *H[D]
	model map[int]int
	seq   int

	mu     sync.Mutex // change runs in the goroutine of start or in run
	cancel context.CancelFunc
	done   chan []string
}

func (w *writer[D]) start() {
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel, w.done = cancel, make(chan []string, 1)
	go func() {
		var out []string
		defer func() { w.done <- out }()
		tb := &goroutineTB{TB: w.h.T}
		for ctx.Err() == nil {
			out = append(out, w.change(tb))
			time.Sleep(5 * time.Millisecond)
		}
	}()
}

func (w *writer[D]) stop() []string {
	w.cancel()
	return <-w.done
}

// run makes n changes here and now.
func (w *writer[D]) run(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = w.change(w.h.T)
	}
	return out
}

// change makes the next change and returns its event as checkTable writes
// it.
func (w *writer[D]) change(tb testenv.TB) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq++
	s := w.seq
	var id int
	var q, ev string
	switch s % 4 {
	case 0:
		id = 100000 + s
		q = fmt.Sprintf("INSERT INTO a VALUES (%d, %d)", id, s)
		ev = "c"
	case 3:
		id = 100000 + s - 3
		q = fmt.Sprintf("DELETE FROM a WHERE id = %d", id)
		delete(w.model, id)
		ev = "d"
	default:
		id = 1 + s%addedARows
		q = fmt.Sprintf("UPDATE a SET v = %d WHERE id = %d", s, id)
		ev = "u"
	}
	w.h.DB.Exec(tb, q)
	if ev == "d" {
		return fmt.Sprintf(`d {"id":%d}`, id)
	}
	w.model[id] = s
	return fmt.Sprintf(`%s {"id":%d} {"id":%d,"v":%d}`, ev, id, id, s)
}

// goroutineTB is a testing.T for a goroutine of the test: a fatal failure
// ends the goroutine (runtime.Goexit), not the test's own.
type goroutineTB struct{ testenv.TB }

func (g *goroutineTB) Fatal(args ...any) {
	g.Errorf("%s", fmt.Sprint(args...))
	runtime.Goexit()
}

func (g *goroutineTB) Fatalf(format string, args ...any) {
	g.Errorf(format, args...)
	runtime.Goexit()
}
