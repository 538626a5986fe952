package record

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/bus"
	"github.com/ficus-migrate/ficus/shadow/redact"
)

// Config configures a Recorder.
type Config struct {
	// Conn is the NATS connection (required).
	Conn *nats.Conn
	// MaxAge of records on the stream [168h]; negative keeps them forever.
	MaxAge time.Duration
	// Redact adds to the built-in rules of what is secret (redact.Builtin).
	Redact redact.Rules
	// RedactKey is the key secrets are hashed with (see redact.Prefix);
	// records compare across processes only under one key. Empty: a random
	// key for this process alone.
	RedactKey []byte
	// BodyBytes caps each recorded body [16 KiB].
	BodyBytes int
	// Pending bounds the records waiting to be published [1024]; more are
	// dropped and counted, so a slow NATS never holds up shadow workers.
	Pending int
	// PublishTimeout bounds one publish [5s].
	PublishTimeout time.Duration
	// Logger [slog.Default()].
	Logger *slog.Logger
}

// Input is what the shadow worker knows about a mismatch; bodies are raw
// and are redacted and capped by Record.
type Input struct {
	Mismatch
	RequestBody, LegacyBody, NewBody []byte
}

// Recorder publishes redacted Mismatch records to FICUS_SHADOW.
type Recorder struct {
	cfg     Config
	js      jetstream.JetStream
	red     *redact.Redactor
	log     *slog.Logger
	queue   chan outgoing
	dropped atomic.Uint64
	failed  atomic.Uint64
	written atomic.Uint64
	// tallies counts the tallies apart: records are what
	// ficus_shadow_records_total has always counted.
	tallies struct{ dropped, failed, written atomic.Uint64 }
	// streamOK is set once FICUS_SHADOW is known to exist.
	streamOK atomic.Bool
}

type outgoing struct {
	subject string
	data    []byte
	tally   bool
}

// New creates or updates the FICUS_SHADOW stream and returns a Recorder;
// call Run to publish.
func New(ctx context.Context, cfg Config) (*Recorder, error) {
	if cfg.Conn == nil {
		return nil, errors.New("shadow record: a NATS connection is required")
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = 168 * time.Hour
	}
	if cfg.MaxAge < 0 {
		cfg.MaxAge = 0
	}
	if cfg.BodyBytes <= 0 {
		cfg.BodyBytes = 16 << 10
	}
	if cfg.Pending <= 0 {
		cfg.Pending = 1024
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if len(cfg.RedactKey) == 0 {
		k, err := redact.NewKey()
		if err != nil {
			return nil, fmt.Errorf("shadow record: %w", err)
		}
		cfg.RedactKey = k
	}
	red, err := redact.New(redact.Config{Rules: cfg.Redact, Key: cfg.RedactKey})
	if err != nil {
		return nil, fmt.Errorf("shadow record: %w", err)
	}
	js, err := jetstream.New(cfg.Conn)
	if err != nil {
		return nil, fmt.Errorf("shadow record: jetstream: %w", err)
	}
	r := &Recorder{
		cfg:   cfg,
		js:    js,
		red:   red,
		log:   cfg.Logger.With("component", "shadow.record"),
		queue: make(chan outgoing, cfg.Pending),
	}
	// The stream is where mismatches are kept, not what the proxy needs to
	// serve: while NATS cannot answer for it (a cluster that lost the node
	// leading it, a leader election), ficus starts anyway and Run keeps
	// trying; records meanwhile fail and are counted.
	if err := EnsureStream(ctx, js, cfg.MaxAge); err != nil {
		r.log.Warn("mismatch stream not available yet; retrying in the background", "stream", StreamName, "err", err)
	} else {
		r.streamOK.Store(true)
	}
	return r, nil
}

// EnsureStream creates FICUS_SHADOW or updates its max age, with three
// replicas where NATS is a cluster that can hold them (the records then
// survive the loss of a node), else with one.
func EnsureStream(ctx context.Context, js jetstream.JetStream, maxAge time.Duration) error {
	sc := jetstream.StreamConfig{
		Name:     StreamName,
		Subjects: []string{SubjectPrefix + ">", TallyPrefix + ">"},
		Storage:  jetstream.FileStorage,
		MaxAge:   maxAge,
	}
	if err := bus.CreateOrUpdateStream(ctx, js, sc); err != nil {
		return fmt.Errorf("create or update stream %s: %w", StreamName, err)
	}
	return nil
}

// Record redacts in and queues it for publishing. It never blocks: when
// the queue is full the record is dropped and counted.
func (r *Recorder) Record(in Input) {
	m := r.Build(in)
	data, err := json.Marshal(m)
	if err != nil {
		r.failed.Add(1)
		r.log.Warn("cannot encode mismatch record", "route", m.Route, "err", err)
		return
	}
	select {
	case r.queue <- outgoing{subject: Subject(m.Route), data: data}:
	default:
		r.dropped.Add(1)
	}
}

// Build returns the redacted record of in, exactly as Record would publish
// it: nothing of in leaves the process unredacted.
func (r *Recorder) Build(in Input) Mismatch {
	return build(r.red, in, r.cfg.BodyBytes)
}

// Run publishes queued records until ctx ends, then publishes what is
// still queued (each publish bounded by PublishTimeout) and returns.
func (r *Recorder) Run(ctx context.Context) error {
	return bus.PublishLoop[outgoing]{
		Queue: r.queue, Ready: &r.streamOK,
		Ensure:  func(ctx context.Context) error { return EnsureStream(ctx, r.js, r.cfg.MaxAge) },
		OnReady: func() { r.log.Info("mismatch stream available", "stream", StreamName) },
		Publish: r.publish,
	}.Run(ctx)
}

func (r *Recorder) publish(ctx context.Context, o outgoing) {
	pctx, cancel := context.WithTimeout(ctx, r.cfg.PublishTimeout)
	defer cancel()
	failed, written, what := &r.failed, &r.written, "mismatch record"
	if o.tally {
		failed, written, what = &r.tallies.failed, &r.tallies.written, "shadow tally"
	}
	if _, err := r.js.Publish(pctx, o.subject, o.data); err != nil {
		failed.Add(1)
		r.log.Warn("cannot publish "+what, "subject", o.subject, "err", err)
		return
	}
	written.Add(1)
}

// Stats are the recorder's counters of mismatch records.
type Stats struct {
	Written, Dropped, Failed uint64
}

// Stats returns the counters so far.
func (r *Recorder) Stats() Stats {
	return Stats{Written: r.written.Load(), Dropped: r.dropped.Load(), Failed: r.failed.Load()}
}

// TallyStats returns the counters of tallies so far.
func (r *Recorder) TallyStats() Stats {
	return Stats{Written: r.tallies.written.Load(), Dropped: r.tallies.dropped.Load(), Failed: r.tallies.failed.Load()}
}
