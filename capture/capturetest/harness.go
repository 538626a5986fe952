// Package capturetest is the conformance suite of the capture readers: the same
// scenarios (snapshot then streaming, restarts and outages, the value mapping,
// a missing table), with the same assertions, run against every reader on real
// throwaway database and NATS servers (internal/testenv).
//
// A reader's tests call Run with a Harness, which holds only what differs
// between engines (how to start the database, build the reader, tell that it
// streams, read its positions). Their engine-specific tests use H, the same
// machinery, directly.
package capturetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/capture/backfill"
	"github.com/ficus-migrate/ficus/capture/mask"
	"github.com/ficus-migrate/ficus/capture/sink"
	"github.com/ficus-migrate/ficus/internal/testenv"
)

// SourceName is the name every reader under test is given: subjects, message
// ids and the events' source block carry it.
const SourceName = "legacy"

// database is the database internal/testenv creates on every server.
const database = "ficus"

// DB is a throwaway database server of internal/testenv.
type DB interface {
	DSN() string
	Exec(t testenv.TB, sql string, args ...any)
	QueryString(t testenv.TB, sql string, args ...any) string
	Restart(t testenv.TB)
}

// Harness is what the suite needs to know of one reader. Hooks marked optional
// may be nil; the others are required.
type Harness[D DB] struct {
	// Connector is source.connector in every event: "postgresql", "mysql".
	Connector string
	// Schema holds the scenarios' tables: the PostgreSQL schema ("public") or
	// the MySQL database ("ficus"). Subjects and source.schema name it.
	Schema string
	// StartDB starts a throwaway server with an empty database "ficus".
	StartDB func(t testenv.TB) D
	// NewSource builds the reader under test, named SourceName, on h's
	// database, NATS connection (h.Conn), logger (h.Logger) and registry
	// (h.Registry), column masker (h.Mask) and backfill manager (h.Backfill),
	// with short test timings, capturing tables ("schema.table";
	// none: every table).
	NewSource func(h *H[D], tables ...string) (capture.Source, error)
	// WaitStreaming returns once a started reader streams: its snapshot, if
	// any, is done and changes made from now on are captured.
	WaitStreaming func(h *H[D])
	// CheckPosition checks what a row event says about where it was read: the
	// engine's position fields in source and, for changes streamed from the
	// log (not snapshot), the message id derived from them.
	CheckPosition func(t testing.TB, e Event, snapshot bool)
	// Tx is one statement (for one DB.Exec) running stmts as a transaction.
	Tx func(stmts ...string) string
	// FullBefore (optional) are the statements that make updates and deletes
	// of table carry the whole old row in before.
	FullBefore func(table string) []string
	// PublishesDDL: the reader publishes every DDL statement on the _ddl
	// subject, ahead of the changes that follow it.
	PublishesDDL bool
	// SchemaEvents (optional), for a reader that publishes schema events of
	// its own shape instead (PostgreSQL: column lists), checks the events it
	// expects right after the statement ddl ran, reading them with h.Events.
	SchemaEvents func(h *H[D], ddl string)
	// CheckLag checks the reader's lag metric once it has caught up.
	CheckLag func(h *H[D])
	// WaitConfirmed returns once the reader has confirmed everything the
	// database logged so far as durable, and fails the test if it does not in
	// a while.
	WaitConfirmed func(h *H[D])
	// HoldBack (optional) is for readers that confirm their position to the
	// database: it is called just before NATS goes down, and the check it
	// returns runs while NATS is down and changes wait, failing the test if
	// any of them is confirmed.
	HoldBack func(h *H[D]) (check func())
	// Types is the reader's value mapping contract.
	Types Types
	// Quote quotes an identifier for the engine's SQL ("x" or `x`).
	Quote func(ident string) string
}

func (hs Harness[D]) missing() []string {
	var m []string
	for name, set := range map[string]bool{
		"Connector": hs.Connector != "", "Schema": hs.Schema != "", "StartDB": hs.StartDB != nil,
		"NewSource": hs.NewSource != nil, "WaitStreaming": hs.WaitStreaming != nil,
		"CheckPosition": hs.CheckPosition != nil, "Tx": hs.Tx != nil, "CheckLag": hs.CheckLag != nil,
		"WaitConfirmed": hs.WaitConfirmed != nil, "Types.Cases": len(hs.Types.Cases) > 0,
		"Types.Create": hs.Types.Create != nil, "Types.Insert": hs.Types.Insert != nil, "Quote": hs.Quote != nil,
	} {
		if !set {
			m = append(m, name)
		}
	}
	sort.Strings(m)
	return m
}

// H runs readers against one throwaway database and NATS server and reads
// back what landed in the stream.
type H[D DB] struct {
	T        *testing.T
	DB       D
	NATS     *testenv.NATS
	Conn     *nats.Conn // reconnects for ever, across NATS restarts
	JS       jetstream.JetStream
	Registry *prometheus.Registry
	// Mask, when set, is the column masker readers built by NewSource
	// must use (Harness.NewSource passes it on).
	Mask *mask.Masker
	// Backfill, when set, is the backfill manager readers built by
	// NewSource must use (Harness.NewSource passes it on).
	Backfill *backfill.Manager

	hs     Harness[D]
	logs   *testenv.LogBuffer
	next   uint64 // next stream sequence to read
	cancel context.CancelFunc
	done   chan error
}

// New starts a database and a NATS server for one test.
func New[D DB](t *testing.T, hs Harness[D]) *H[D] {
	t.Helper()
	if m := hs.missing(); len(m) > 0 {
		t.Fatalf("capturetest: Harness lacks %s", strings.Join(m, ", "))
	}
	h := &H[D]{T: t, hs: hs, DB: hs.StartDB(t), NATS: testenv.MustStartNATS(t), Registry: prometheus.NewRegistry(),
		logs: &testenv.LogBuffer{}, next: 1}
	h.Conn = h.NATS.Connect(t, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	js, err := jetstream.New(h.Conn)
	if err != nil {
		t.Fatal(err)
	}
	h.JS = js
	return h
}

// Logger writes, at debug level, into the logs the failures print.
func (h *H[D]) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Logs is everything the readers logged so far.
func (h *H[D]) Logs() string { return h.logs.String() }

// NewSource builds the reader with Harness.NewSource and fails the test if
// that fails.
func (h *H[D]) NewSource(tables ...string) capture.Source {
	h.T.Helper()
	src, err := h.hs.NewSource(h, tables...)
	if err != nil {
		h.T.Fatalf("New: %v", err)
	}
	return src
}

// StartSource builds the reader (see NewSource) and starts it.
func (h *H[D]) StartSource(tables ...string) {
	h.T.Helper()
	h.Start(h.NewSource(tables...))
}

// Start runs src until Stop or the end of the test, and returns once it
// streams.
func (h *H[D]) Start(src capture.Source) {
	h.T.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- src.Run(ctx) }()
	h.T.Cleanup(h.Stop)
	h.hs.WaitStreaming(h)
}

// Stop cancels the running reader and checks that Run returns nil in time.
func (h *H[D]) Stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.T.Errorf("Run returned %v", err)
		}
	case <-time.After(20 * time.Second):
		h.T.Errorf("Run did not return after cancel")
	}
	h.cancel = nil
}

// Events reads the next n messages of the source's stream, in stream order.
func (h *H[D]) Events(n int, timeout time.Duration) []Event {
	h.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []Event
	for len(out) < n {
		e, err := h.get(ctx, h.next)
		if err != nil {
			h.T.Fatalf("reading event %d of %d (seq %d): %v\nlogs:\n%s", len(out)+1, n, h.next, err, h.Logs())
		}
		h.next++
		out = append(out, e)
	}
	return out
}

// NoMore asserts nothing new arrives within d.
func (h *H[D]) NoMore(d time.Duration) {
	h.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if e, err := h.get(ctx, h.next); err == nil {
		h.T.Fatalf("unexpected extra event %s %s", e.ID(), e.Raw)
	}
}

func (h *H[D]) get(ctx context.Context, seq uint64) (Event, error) {
	for {
		st, err := h.JS.Stream(ctx, sink.StreamName(SourceName))
		if err == nil {
			var m *jetstream.RawStreamMsg
			if m, err = st.GetMsg(ctx, seq); err == nil {
				return decode(m)
			}
		}
		// Anything else (server restarting, reconnecting) is retried until ctx ends.
		select {
		case <-ctx.Done():
			return Event{}, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Metric returns the value of the series of name whose labels include labels
// (source=SourceName implied), or -1 when there is none.
func (h *H[D]) Metric(name string, labels map[string]string) float64 {
	h.T.Helper()
	mfs, err := h.Registry.Gather()
	if err != nil {
		h.T.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			if got["source"] != SourceName {
				continue
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

// exec runs statements in order.
func (h *H[D]) exec(stmts ...string) {
	h.T.Helper()
	for _, s := range stmts {
		h.DB.Exec(h.T, s)
	}
}

// InsertItems inserts rows into the scenarios' items (id) table.
func (h *H[D]) InsertItems(ids ...int) {
	h.T.Helper()
	for _, id := range ids {
		h.DB.Exec(h.T, fmt.Sprintf("INSERT INTO items VALUES (%d)", id))
	}
}

// ExpectInserts checks that ev are the inserts of ids into the items (id)
// table, in order.
func (h *H[D]) ExpectInserts(ev []Event, ids ...int) {
	h.T.Helper()
	for i, e := range ev {
		h.CheckEvent(e, "items", "c", "null", fmt.Sprintf(`{"id":%d}`, ids[i]), fmt.Sprintf(`{"id":%d}`, ids[i]), false)
	}
}

// decode reads a stream message the way consumers do: numbers stay exact.
func decode(m *jetstream.RawStreamMsg) (Event, error) {
	e := Event{Subject: m.Subject, Header: m.Header, Raw: m.Data}
	d := json.NewDecoder(bytes.NewReader(m.Data))
	d.UseNumber()
	if err := d.Decode(&e.Env); err != nil {
		return e, err
	}
	if err := json.Unmarshal(m.Data, &e.Fields); err != nil {
		return e, err
	}
	return e, nil
}
