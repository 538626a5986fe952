// Package sink is the durable publishing sink for capture sources: it
// publishes row changes to a JetStream stream asynchronously and tracks which
// source positions are durable (every event before them acknowledged).
package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/capture/mask"
	"github.com/ficus-migrate/ficus/capture/subject"
)

// Defaults used when the corresponding Config field is zero.
const (
	DefaultSubjectPrefix   = "ficus.cdc"
	DefaultMaxPending      = 4096
	DefaultAckTimeout      = 10 * time.Second
	MinDuplicateWindow     = 10 * time.Minute
	DefaultCheckpointStore = "ficus_checkpoints"
)

// Config configures a Sink for one source.
type Config struct {
	Conn          *nats.Conn // required; owned by the caller
	Source        string     // source name, [a-z0-9_-]+
	SubjectPrefix string     // default ficus.cdc
	// Subjects overrides the subject token of some tables, by
	// "schema.table" (capture.sources[].tables[].subject); each must be a
	// valid token (subject.ValidToken). Other tables get subject.Token.
	Subjects map[string]string
	Stream   StreamConfig
	// MaxPending bounds the publishes awaiting an acknowledgement; Publish blocks
	// beyond it, which bounds memory for arbitrarily large transactions.
	MaxPending int
	// AckTimeout fails a publish whose acknowledgement does not arrive in time.
	AckTimeout time.Duration
	// ConfirmDelay holds back durability of a position until its events have been
	// acknowledged at least this long ago. It covers a single-node server that
	// fsyncs on an interval: an ack there is not yet on disk.
	ConfirmDelay time.Duration
	Metrics      *capture.Metrics // optional
	Logger       *slog.Logger
	// Transform, when set, rewrites the events in batches of up to
	// TransformBatch [512] before they are published (see stage).
	Transform      Transformer
	TransformBatch int
	// Mask, when set, leaves out and masks columns of every change before
	// anything else sees it (transforms included); see package mask.
	Mask *mask.Masker
}

// StreamConfig are the user-settable stream settings.
type StreamConfig struct {
	Replicas        int
	MaxAge          time.Duration
	MaxBytes        int64
	DuplicateWindow time.Duration // raised to at least MinDuplicateWindow
}

// Sink publishes changes of one source. Publish and Mark must be called from a
// single goroutine (the source's decode loop); Durable and Err from any.
type Sink struct {
	cfg    Config
	js     jetstream.JetStream
	log    *slog.Logger
	stream string

	// Used only by the publishing goroutine.
	tables    map[tableKey]tableNames
	msg       nats.Msg // refilled by Publish for every event
	pubOpts   []jetstream.PublishOpt
	counters  map[counterKey]prometheus.Counter // used only by track
	lastEvent prometheus.Gauge                  // used only by track

	slots chan struct{} // in-flight publish tokens
	queue chan entry    // publishes and marks, in source order
	done  chan struct{}
	wg    sync.WaitGroup

	mu      sync.Mutex
	err     error
	marks   []durableMark // acknowledged marks waiting out ConfirmDelay
	durable capture.Position
	idle    chan struct{} // closed and replaced whenever the queue drains
	queued  int

	stage *stage // nil without a Transform
}

type entry struct {
	paf    jetstream.PubAckFuture
	change *capture.Change // for metrics after ack; nil for an Event
	id     string
	// subject is the message's: the message itself is reused (Publish).
	subject string
	mark    capture.Position
}

type durableMark struct {
	pos capture.Position
	at  time.Time
}

// StreamName is the stream holding a source's events: FICUS_CDC_<SOURCE>.
func StreamName(source string) string {
	var b strings.Builder
	b.WriteString("FICUS_CDC_")
	for _, r := range strings.ToUpper(source) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Subject is <prefix>.<source>.<schema>.<table>, with schema and table
// mapped to subject tokens by subject.Token (so "Weird Table" is
// "Weird%20Table"); see package subject.
func Subject(prefix, source, schema, table string) string {
	return subject.Table(prefix, source, schema, table, "")
}

// New ensures the source's stream exists with the configured settings and
// returns a ready Sink. Close it when done.
func New(ctx context.Context, cfg Config) (*Sink, error) {
	if cfg.Conn == nil {
		return nil, errors.New("jetstream sink: Conn is required")
	}
	if cfg.Source == "" {
		return nil, errors.New("jetstream sink: Source is required")
	}
	if cfg.SubjectPrefix == "" {
		cfg.SubjectPrefix = DefaultSubjectPrefix
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = DefaultAckTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	for t, tok := range cfg.Subjects {
		if !subject.ValidToken(tok) {
			return nil, capture.Permanent(fmt.Errorf("jetstream sink for source %q: table %s: subject %q is not a valid subject token", cfg.Source, t, tok))
		}
	}
	// The library's own limit is set above ours so that it never stalls or
	// rejects a publish: back-pressure happens in Publish, under ctx.
	js, err := jetstream.New(cfg.Conn,
		jetstream.WithPublishAsyncMaxPending(cfg.MaxPending+1),
		jetstream.WithPublishAsyncTimeout(cfg.AckTimeout))
	if err != nil {
		return nil, fmt.Errorf("jetstream sink for source %q: %w", cfg.Source, err)
	}
	s := &Sink{
		cfg:    cfg,
		js:     js,
		log:    cfg.Logger.With("component", "capture.jetstream", "source", cfg.Source),
		stream: StreamName(cfg.Source),
		slots:  make(chan struct{}, cfg.MaxPending),
		queue:  make(chan entry, 2*cfg.MaxPending),
		done:   make(chan struct{}),
		idle:   make(chan struct{}),

		tables:   map[tableKey]tableNames{},
		counters: map[counterKey]prometheus.Counter{},
	}
	s.msg = newReusedMsg(cfg.Source, s.stream)
	// A publish nobody answers (stream unavailable) fails the sink at once
	// rather than being retried by the library, which would re-send the
	// reused message; the source restarts from Durable() instead.
	s.pubOpts = []jetstream.PublishOpt{jetstream.WithRetryAttempts(0)}
	if err := s.ensureStream(ctx); err != nil {
		return nil, err
	}
	s.wg.Add(1)
	go s.track()
	if cfg.Transform != nil {
		s.startStage(ctx)
	}
	return s, nil
}

// JetStream exposes the underlying context (e.g. for the checkpoint store).
func (s *Sink) JetStream() jetstream.JetStream { return s.js }

// StreamName is the stream this sink publishes to.
func (s *Sink) StreamName() string { return s.stream }

func (s *Sink) ensureStream(ctx context.Context) error {
	sc := s.cfg.Stream
	dup := max(sc.DuplicateWindow, MinDuplicateWindow)
	maxBytes := sc.MaxBytes
	if maxBytes <= 0 {
		maxBytes = -1
	}
	want := jetstream.StreamConfig{
		Name:       s.stream,
		Subjects:   []string{s.cfg.SubjectPrefix + "." + s.cfg.Source + ".>"},
		Storage:    jetstream.FileStorage,
		Replicas:   max(sc.Replicas, 1),
		MaxAge:     sc.MaxAge,
		MaxBytes:   maxBytes,
		Duplicates: dup,
	}
	if _, err := s.js.CreateOrUpdateStream(ctx, want); err != nil {
		return classify(fmt.Errorf("create or update stream %s: %w", s.stream, err))
	}
	return nil
}

// Publish sends one change asynchronously. It blocks while MaxPending publishes
// are unacknowledged. After any failed publish the sink is broken: Publish
// returns the error, and the source must restart from Durable().
func (s *Sink) Publish(ctx context.Context, c *capture.Change) error {
	if err := s.Err(); err != nil {
		return err
	}
	if err := s.cfg.Mask.Apply(c); err != nil {
		err = capture.Permanent(err)
		s.fail(err)
		return err
	}
	if s.stage != nil {
		return s.stage.publishChange(ctx, c)
	}
	// The message, its headers and its body are reused from event to event:
	// nats.go encodes a message into its write buffer before PublishMsgAsync
	// returns, and with no-responder retries off (pubOpts) it never reads
	// the message again. This removes most per-event allocations.
	body, err := c.AppendEnvelope(s.msg.Data[:0])
	if err != nil {
		return err
	}
	t := s.table(c.Source.Schema, c.Source.Table)
	h := s.msg.Header
	h[jetstream.MsgIDHeader][0] = c.ID
	h["ce-id"][0] = c.ID
	h["ce-type"][0] = ceType(c.Op)
	h["ce-time"][0] = c.Time.UTC().Format(time.RFC3339Nano)
	h["ce-subject"][0] = t.ceSubject
	s.msg.Subject, s.msg.Data = t.subject, body
	return s.send(ctx, &s.msg, c.ID, c)
}

// Event is a non-row message (e.g. a DDL notice) published in order with the
// row changes, with the same headers and acknowledgement tracking.
type Event struct {
	Subject string // appended to <prefix>.<source>., e.g. "_ddl"
	ID      string // Nats-Msg-Id and ce-id
	Type    string // ce-type, e.g. io.ficus.cdc.ddl
	Time    time.Time
	Data    []byte // JSON
}

// PublishEvent sends ev like Publish sends a change.
func (s *Sink) PublishEvent(ctx context.Context, ev Event) error {
	if err := s.Err(); err != nil {
		return err
	}
	if s.stage != nil {
		return s.stage.put(ctx, stageItem{plain: &ev})
	}
	msg := nats.NewMsg(s.cfg.SubjectPrefix + "." + s.cfg.Source + "." + ev.Subject)
	msg.Data = ev.Data
	msg.Header.Set(jetstream.MsgIDHeader, ev.ID)
	msg.Header.Set("ce-specversion", "1.0")
	msg.Header.Set("ce-id", ev.ID)
	msg.Header.Set("ce-source", "/ficus/"+s.cfg.Source)
	msg.Header.Set("ce-type", ev.Type)
	msg.Header.Set("ce-time", ev.Time.UTC().Format(time.RFC3339Nano))
	msg.Header.Set("content-type", "application/json")
	return s.send(ctx, msg, ev.ID, nil)
}

// PublishDDL publishes a schema event (capture.DDLEvent) on
// <prefix>.<source>._ddl, in order with the row changes.
func (s *Sink) PublishDDL(ctx context.Context, id string, ev capture.DDLEvent) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode ddl event: %w", err)
	}
	return s.PublishEvent(ctx, Event{Subject: capture.DDLSubject, ID: id, Type: capture.DDLType, Time: time.Now(), Data: body})
}

func (s *Sink) send(ctx context.Context, msg *nats.Msg, id string, c *capture.Change) error {
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return errors.New("jetstream sink closed")
	}
	if msg.Header.Get(jetstream.ExpectedStreamHeader) == "" {
		msg.Header.Set(jetstream.ExpectedStreamHeader, s.stream)
	}
	paf, err := s.js.PublishMsgAsync(msg, s.pubOpts...)
	if err != nil {
		<-s.slots
		err = classify(fmt.Errorf("publish %s%s to %s: %w", id, tableOf(c), msg.Subject, err))
		s.fail(err)
		return err
	}
	return s.enqueue(ctx, entry{paf: paf, change: c, id: id, subject: msg.Subject})
}

// Mark records a source position: once every change published before it is
// acknowledged (and ConfirmDelay has passed), Durable returns it.
func (s *Sink) Mark(ctx context.Context, pos capture.Position) error {
	if err := s.Err(); err != nil {
		return err
	}
	if s.stage != nil {
		return s.stage.put(ctx, stageItem{mark: pos})
	}
	return s.enqueue(ctx, entry{mark: pos})
}

// Notify calls fn (which must not block) once every change published before
// it is acknowledged by JetStream; ConfirmDelay does not apply. After a
// failed publish fn is never called. A backfill chunk uses it to know its
// rows are in the stream before it records the chunk as finished.
func (s *Sink) Notify(ctx context.Context, fn func()) error {
	return s.Mark(ctx, notice{fn: fn})
}

// notice is a mark that calls fn instead of becoming durable.
type notice struct{ fn func() }

func (notice) String() string { return "notice" }

func (s *Sink) enqueue(ctx context.Context, e entry) error {
	s.mu.Lock()
	s.queued++
	s.mu.Unlock()
	var err error
	select {
	case s.queue <- e:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-s.done:
		err = errors.New("jetstream sink closed")
	}
	s.release(1)
	return err
}

// release counts n queued items as done and wakes Flush when none is left.
func (s *Sink) release(n int) {
	s.mu.Lock()
	s.queued -= n
	if s.queued == 0 {
		close(s.idle)
		s.idle = make(chan struct{})
	}
	s.mu.Unlock()
}

// Durable returns the last marked position whose preceding changes are all
// acknowledged by JetStream at least ConfirmDelay ago, or nil if none yet.
func (s *Sink) Durable() capture.Position {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.promoteLocked(time.Now())
	return s.durable
}

func (s *Sink) promoteLocked(now time.Time) {
	i := 0
	for i < len(s.marks) && now.Sub(s.marks[i].at) >= s.cfg.ConfirmDelay {
		s.durable = s.marks[i].pos
		i++
	}
	s.marks = s.marks[i:]
}

// Err returns the first publish failure, if any.
func (s *Sink) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *Sink) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
		if capture.IsPermanent(err) {
			s.log.Error("publish failed and cannot succeed by retrying; the source stops", "err", err)
		} else {
			s.log.Warn("publish failed; source must restart from its durable position", "err", err)
		}
	}
}

// Flush waits until everything published and marked so far is acknowledged and
// past ConfirmDelay, or the sink fails, or ctx ends.
func (s *Sink) Flush(ctx context.Context) error {
	for {
		s.mu.Lock()
		err, queued, idle := s.err, s.queued, s.idle
		s.mu.Unlock()
		if err != nil {
			return err
		}
		if queued == 0 {
			break
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if s.cfg.ConfirmDelay > 0 {
		t := time.NewTimer(s.cfg.ConfirmDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.Err()
}

// track waits for acknowledgements in publish order, so a mark is promoted
// only when everything before it is acknowledged.
func (s *Sink) track() {
	defer s.wg.Done()
	for {
		var e entry
		select {
		case e = <-s.queue:
		case <-s.done:
			return
		}
		if e.paf != nil {
			select {
			case <-e.paf.Ok():
				s.count(e.change)
			case err := <-e.paf.Err():
				s.fail(classify(fmt.Errorf("publish %s%s to %s: %w", e.id, tableOf(e.change), e.subject, err)))
			case <-s.done:
				return
			}
			<-s.slots
		} else {
			s.addMark(e.mark)
		}
		s.release(1)
	}
}

func (s *Sink) addMark(pos capture.Position) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return // nothing after a failure may become durable
	}
	if n, ok := pos.(notice); ok {
		n.fn()
		return
	}
	now := time.Now()
	// Marks acked within a small fraction of ConfirmDelay of each other are
	// merged (keeping the later position and the later time, which is
	// conservative) so the list stays short however many transactions commit.
	if n := len(s.marks); n > 0 && now.Sub(s.marks[n-1].at) < s.cfg.ConfirmDelay/16 {
		s.marks[n-1] = durableMark{pos: pos, at: now}
	} else {
		s.marks = append(s.marks, durableMark{pos: pos, at: now})
	}
	s.promoteLocked(now)
}

type counterKey struct {
	schema, table string
	op            capture.Op
}

// count runs on the track goroutine; it caches the label lookups, which
// cost more than the increment itself.
func (s *Sink) count(c *capture.Change) {
	if s.cfg.Metrics == nil || c == nil {
		return
	}
	k := counterKey{c.Source.Schema, c.Source.Table, c.Op}
	ctr, ok := s.counters[k]
	if !ok {
		if len(s.counters) > 10000 {
			clear(s.counters)
		}
		ctr = s.cfg.Metrics.Events.WithLabelValues(s.cfg.Source, c.Source.Schema+"."+c.Source.Table, string(c.Op))
		s.counters[k] = ctr
	}
	ctr.Inc()
	if s.lastEvent == nil {
		s.lastEvent = s.cfg.Metrics.LastEventTime.WithLabelValues(s.cfg.Source)
	}
	s.lastEvent.Set(float64(c.Source.TsMs) / 1000)
}

// Close stops ack tracking. Unacknowledged publishes may still land in the
// stream; they are simply not reported as durable.
func (s *Sink) Close() {
	if s.stage != nil {
		s.stage.cancel() // a transform call in flight
	}
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	s.wg.Wait()
}
