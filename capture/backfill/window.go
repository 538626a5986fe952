package backfill

import (
	"sync"
	"sync/atomic"

	"github.com/ficus-migrate/ficus/capture"
)

// Windows are the chunks between their watermarks. The driver opens a window
// before it writes the low watermark and fills in the chunk before it writes
// the high one; the reader, a single goroutine, calls Signal for every
// watermark it streams past and Changed for every row change. Both are cheap
// when no window is open.
type Windows struct {
	source string
	open   atomic.Int32 // windows whose low watermark the reader has seen
	mu     sync.Mutex
	byID   map[string]*window
}

type window struct {
	table   string
	seen    bool            // the low watermark streamed past
	changed map[string]bool // keys changed between the watermarks
	all     bool            // the table was truncated between them
	chunk   *Chunk          // set by the driver before the high watermark
	emitted int64
	done    chan struct{} // closed once the chunk's events are acknowledged
}

// NewWindows returns the windows of one source; the watermark rows carry
// the source name, so sources sharing a signal table keep apart.
func NewWindows(source string) *Windows {
	return &Windows{source: source, byID: map[string]*window{}}
}

// Source is the name the watermark rows of this source carry.
func (w *Windows) Source() string { return w.source }

func (w *Windows) add(id, table string) *window {
	win := &window{table: table, changed: map[string]bool{}, done: make(chan struct{})}
	w.mu.Lock()
	w.byID[id] = win
	w.mu.Unlock()
	return win
}

func (w *Windows) setChunk(id string, c *Chunk) {
	w.mu.Lock()
	if win := w.byID[id]; win != nil {
		win.chunk = c
	}
	w.mu.Unlock()
}

func (w *Windows) remove(id string) {
	w.mu.Lock()
	if win := w.byID[id]; win != nil {
		if win.seen {
			w.open.Add(-1)
		}
		delete(w.byID, id)
	}
	w.mu.Unlock()
}

// Changed records a streamed row change of table (as Request.Table spells
// it) in every open window of that table. The reader calls it before it
// publishes the change. An empty key matches nothing.
func (w *Windows) Changed(table string, key capture.Row) {
	if w == nil || len(key) == 0 || w.open.Load() == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var k string
	for _, win := range w.byID {
		if !win.seen || win.table != table {
			continue
		}
		if k == "" {
			var err error
			if k, err = KeyString(table, key); err != nil {
				return // a key that cannot be encoded matches no chunk row either
			}
		}
		win.changed[k] = true
	}
}

// Truncated records a truncate of table streamed inside its open windows:
// every row their chunks read may be gone, so none is published.
func (w *Windows) Truncated(table string) {
	if w == nil || w.open.Load() == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, win := range w.byID {
		if win.seen && win.table == table {
			win.all = true
		}
	}
}

// Emit is what the reader publishes at a high watermark: Rows (op "r", in
// key order, without ID), then Done once they are all acknowledged.
type Emit struct {
	Rows []*capture.Change
	// Done tells the driver the chunk is published; the reader calls it from
	// the sink's acknowledgement path (sink.Sink.Notify).
	Done func()
}

// Signal handles a watermark row the reader streamed past: kind and id as
// written by the driver. At a low watermark it opens the window; at a high
// one it closes it and returns the rows to publish there. A watermark this
// process did not write (one replayed after a restart) returns nil.
func (w *Windows) Signal(kind Kind, id string) *Emit {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	win := w.byID[id]
	if win == nil {
		return nil
	}
	switch kind {
	case Low:
		if !win.seen {
			win.seen = true
			w.open.Add(1)
		}
	case High:
		if !win.seen || win.chunk == nil {
			return nil // not ours to finish: the driver times the window out
		}
		delete(w.byID, id)
		w.open.Add(-1)
		e := &Emit{Rows: make([]*capture.Change, 0, len(win.chunk.Rows))}
		for _, r := range win.chunk.Rows {
			if !win.all && !win.changed[r.Key] {
				e.Rows = append(e.Rows, r.Change)
			}
		}
		win.emitted = int64(len(e.Rows))
		done := win.done
		e.Done = func() { close(done) }
		return e
	}
	return nil
}
