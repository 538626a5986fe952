package capturetest

import (
	"context"
	"errors"
	"time"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/capture/backfill"
	"github.com/ficus-migrate/ficus/capture/mask"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// BackfillCase is what BackfillWhileStreaming needs of one reader.
type BackfillCase struct {
	// Setup is the engine's statements that create table bf (id int PRIMARY
	// KEY, v int NOT NULL, note text NOT NULL, secret text DEFAULT
	// 'PLANTED-SECRET') with ids 1..rows, and whatever the refusals need.
	Setup func(rows int) []string
	// Table is bf as requests and column rules name it ("public.bf").
	Table   string
	Dialect canon.Engine
	// Source builds the reader on the harness's database, streaming without
	// a snapshot, with H.Backfill as its backfill manager and H.Mask as its
	// column rules (the run sets both).
	Source func() (capture.Source, error)
	// Refused are requests the database cannot serve: Enqueue must refuse
	// each with a BadRequestError.
	Refused []BadRequest
	// Writer holds the engine's statements (and Benign); the run fills in
	// the rest for each of the BackfillScale().Writers writers.
	Writer Writer
	// NewExec is Writer.Exec for one more writer, on a connection of its own
	// where the driver wants one per goroutine.
	NewExec func() func(ctx context.Context, q string, id int) error
	// Lines reads table bf (TableLines).
	Lines func(ctx context.Context) []string
	// Then (optional) checks what only this engine does, after the replica
	// is checked, with the same manager (H.Backfill) and deadline.
	Then func(ctx context.Context)
}

// BadRequest is a request Enqueue must refuse (a backfill.Request's
// fields), and Name says which for the failure.
type BadRequest struct {
	Name, Table, Where string
	Chunk              int
}

// BackfillWhileStreaming runs the readers' backfill test: table bf
// backfilled while writers insert, update and delete the same keys; a
// consumer applying the stream in order ends equal to the table, and no op r
// event is older than a change already published (ReplayStream). A second,
// filtered request queues behind the first; requests the database cannot
// serve are refused.
func (h *H[D]) BackfillWhileStreaming(c BackfillCase) {
	t := h.T
	t.Helper()
	// Scaled down from the 300,000 rows at 2,000 changes/s for make
	// test (FICUS_BACKFILL_FULL=1 runs the full size).
	size := BackfillScale()
	h.exec(c.Setup(size.Rows)...)
	mgr, err := backfill.New(backfill.Config{Source: SourceName, Dialect: c.Dialect, JS: h.JS,
		Logger: h.Logger(), Registerer: h.Registry})
	if err != nil {
		t.Fatal(err)
	}
	// Backfilled rows go through the column rules like streamed ones: the
	// replica would differ from the table's id, v, note with secret in.
	masker, err := mask.New(mask.Config{Tables: map[string]mask.Table{c.Table: {Exclude: []string{"secret"}}}})
	if err != nil {
		t.Fatal(err)
	}
	h.Backfill, h.Mask = mgr, masker
	src, err := c.Source()
	if err != nil {
		t.Fatal(err)
	}
	h.Start(src)

	ctx, cancel := context.WithTimeout(context.Background(), size.Timeout)
	defer cancel()
	for _, bad := range c.Refused {
		var be *backfill.BadRequestError
		req := backfill.Request{Table: bad.Table, Where: bad.Where, Chunk: bad.Chunk}
		if _, err := EnqueueActive(ctx, mgr, req); !errors.As(err, &be) {
			t.Errorf("%s: Enqueue = %v, want a BadRequestError", bad.Name, err)
		}
	}

	wctx, stopWriter := context.WithCancel(ctx)
	writerDone := make(chan int)
	hot := func() int {
		st, err := mgr.Status(wctx)
		if err != nil || st.Table == "" {
			return 1
		}
		return 1 + int(st.Chunks)*size.Chunk
	}
	wstart := time.Now()
	for range size.Writers {
		w := c.Writer
		w.Exec, w.Keys, w.PerTick, w.Hot, w.Chunk = c.NewExec(), size.Rows+2000, size.PerTick, hot, size.Chunk
		go func() { writerDone <- w.Run(wctx, t) }()
	}
	time.Sleep(300 * time.Millisecond) // changes before the first chunk too

	started := time.Now()
	if _, err := EnqueueActive(ctx, mgr, backfill.Request{Table: c.Table, Chunk: size.Chunk}); err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.Enqueue(ctx, backfill.Request{Table: c.Table, Where: "id % 7 = 0", Chunk: size.Chunk / 2}); err != nil {
		t.Fatal(err)
	}
	if st, err := mgr.Status(ctx); err != nil || st.Queued != 1 || st.Table != c.Table {
		t.Errorf("status after two requests: %+v, %v", st, err)
	}
	WaitBackfilled(ctx, t, mgr, h.Logs)
	elapsed := time.Since(started)
	stopWriter()
	changes := 0
	for range size.Writers {
		changes += <-writerDone
	}
	rate := float64(changes) / time.Since(wstart).Seconds()
	h.hs.WaitConfirmed(h)

	rep := h.Replay("bf")
	want := c.Lines(ctx)
	CheckReplica(t, rep, want, size.Rows, changes)
	// About Size.Rows rows in chunks of Size.Chunk (the writers insert up
	// to 2,000 more) and the filtered request's half-size chunks.
	if got, lo := h.Metric("ficus_capture_backfill_chunks_total", map[string]string{"table": c.Table}), float64(size.Rows/size.Chunk); got < lo || got > lo+30 {
		t.Errorf("chunks = %v, want %v to %v", got, lo, lo+30)
	}
	if c.Then != nil {
		c.Then(ctx)
	}
	t.Logf("%d rows backfilled (two requests) in %s while %d changes were written (%.0f/s); replayed %d op r and %d changes; %d rows",
		size.Rows, elapsed.Round(time.Millisecond), changes, rate, rep.Reads, rep.Changes, len(want))
}
