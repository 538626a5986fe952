package mysql

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	cjs "github.com/ficus-migrate/ficus/capture/jetstream"
	"github.com/ficus-migrate/ficus/internal/testenv"
)

// harness runs a Source against real, throwaway MariaDB and NATS servers
// and reads back what landed in the stream.
type harness struct {
	t    *testing.T
	db   *testenv.MariaDB
	ns   *testenv.NATS
	nc   *nats.Conn
	js   jetstream.JetStream
	logs *syncBuffer
	reg  *prometheus.Registry
	next uint64 // next stream sequence to read

	cancel context.CancelFunc
	done   chan error
}

type event struct {
	Subject string
	Header  nats.Header
	Env     map[string]any
	Fields  map[string]json.RawMessage // top-level fields, exactly as published
	Raw     []byte
}

func (e event) op() string             { return e.Env["op"].(string) }
func (e event) source() map[string]any { return e.Env["source"].(map[string]any) }
func (e event) row(k string) map[string]any {
	m, _ := e.Env[k].(map[string]any)
	return m
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, db: testenv.MustStartMariaDB(t), ns: testenv.MustStartNATS(t), logs: &syncBuffer{}, reg: prometheus.NewRegistry(), next: 1}
	h.nc = h.ns.Connect(t, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	js, err := jetstream.New(h.nc)
	if err != nil {
		t.Fatal(err)
	}
	h.js = js
	return h
}

func (h *harness) config() Config {
	return Config{
		Name: "legacy", DSN: h.db.DSN(), NATS: h.nc, ServerID: 4242,
		SnapshotChunkSize: 3, CheckpointInterval: 100 * time.Millisecond, HeartbeatPeriod: time.Second,
		RetryMin: 100 * time.Millisecond, RetryMax: time.Second, AckTimeout: 3 * time.Second,
		Logger:     slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registerer: h.reg,
	}
}

func (h *harness) start(cfg Config) {
	h.t.Helper()
	src, err := New(cfg)
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- src.Run(ctx) }()
	h.t.Cleanup(h.stop)
	h.waitStreaming()
}

// waitStreaming waits until a binlog dump thread serves us, i.e. the snapshot
// (if any) is done and changes made from now on are streamed.
func (h *harness) waitStreaming() {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for h.db.QueryString(h.t, `SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'`) != "1" {
		if time.Now().After(deadline) {
			h.t.Fatalf("not streaming after 30s\nlogs:\n%s", h.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run returned %v", err)
		}
	case <-time.After(20 * time.Second):
		h.t.Errorf("Run did not return after cancel")
	}
	h.cancel = nil
}

// events reads the next n messages of the source's stream, in stream order.
func (h *harness) events(n int, timeout time.Duration) []event {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []event
	for len(out) < n {
		e, err := h.get(ctx, h.next)
		if err != nil {
			h.t.Fatalf("reading event %d of %d (seq %d): %v\nlogs:\n%s", len(out)+1, n, h.next, err, h.logs.String())
		}
		h.next++
		out = append(out, e)
	}
	return out
}

// noMore asserts nothing new arrives within d.
func (h *harness) noMore(d time.Duration) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if e, err := h.get(ctx, h.next); err == nil {
		h.t.Fatalf("unexpected extra event %s %s", e.Header.Get("Nats-Msg-Id"), e.Raw)
	}
}

func (h *harness) get(ctx context.Context, seq uint64) (event, error) {
	for {
		st, err := h.js.Stream(ctx, cjs.StreamName("legacy"))
		if err == nil {
			var m *jetstream.RawStreamMsg
			if m, err = st.GetMsg(ctx, seq); err == nil {
				e := event{Subject: m.Subject, Header: m.Header, Raw: m.Data}
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
		}
		// Anything else (server restarting, reconnecting) is retried until ctx ends.
		_ = err
		select {
		case <-ctx.Done():
			return event{}, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// metric returns the value of the series of name whose labels include
// labels (source=legacy implied), or -1 when there is none.
func (h *harness) metric(name string, labels map[string]string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
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
			if got["source"] != "legacy" {
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
