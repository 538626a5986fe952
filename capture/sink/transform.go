package sink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/capture/subject"
	"github.com/ficus-migrate/ficus/plugins/api"
)

// Transformer rewrites batches of encoded events before they are published
// (the capture.sources[].transforms chain: plugins or built-ins). It must be
// deterministic: after a restart the same changes are transformed again and
// must yield the same ids and contents, which JetStream then de-duplicates.
type Transformer interface {
	Transform(ctx context.Context, source string, batch []api.Event) ([]api.Event, error)
}

// DefaultTransformBatch is the largest batch handed to a Transformer.
const DefaultTransformBatch = 512

// stageItem is one thing the source handed to the sink, in source order:
// a row change already encoded, a position mark, or a non-row event.
type stageItem struct {
	ev    api.Event
	tsMs  int64 // the change's source time, for the last-event metric
	mark  capture.Position
	plain *Event
}

// stage runs the Transformer on its own goroutine. The source's Publish only
// encodes the change and queues it; the stage takes whatever is queued (up to
// the batch size), so batches grow under load and stay small when idle,
// without a timer. Marks queued among a batch's events are released only
// after all of the batch's output is published, so a position is never
// confirmed before every event up to it is in JetStream, whatever the
// transform did to the events.
type stage struct {
	s      *Sink
	t      Transformer
	max    int
	in     chan stageItem
	ctx    context.Context
	cancel context.CancelFunc
}

func (s *Sink) startStage(ctx context.Context) {
	n := s.cfg.TransformBatch
	if n <= 0 {
		n = DefaultTransformBatch
	}
	st := &stage{s: s, t: s.cfg.Transform, max: n, in: make(chan stageItem, 2*n)}
	// The stage outlives New's caller only until Close.
	st.ctx, st.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.stage = st
	s.wg.Add(1)
	go st.run()
}

// put queues one item; it blocks while the stage is full (back-pressure on
// the source, never a drop).
func (st *stage) put(ctx context.Context, it stageItem) error {
	if err := st.s.Err(); err != nil {
		return err
	}
	st.s.mu.Lock()
	st.s.queued++
	st.s.mu.Unlock()
	select {
	case st.in <- it:
		return nil
	case <-ctx.Done():
		st.s.release(1)
		return ctx.Err()
	case <-st.s.done:
		st.s.release(1)
		return errors.New("jetstream sink closed")
	}
}

// publishChange encodes c (into its own buffer: the batch outlives the call)
// and queues it.
func (st *stage) publishChange(ctx context.Context, c *capture.Change) error {
	body, err := c.AppendEnvelope(make([]byte, 0, 512))
	if err != nil {
		return err
	}
	t := st.s.table(c.Source.Schema, c.Source.Table)
	return st.put(ctx, stageItem{ev: api.Event{ID: c.ID, Subject: t.subject, Type: ceType(c.Op), Time: c.Time, Data: body},
		tsMs: c.Source.TsMs})
}

func (st *stage) run() {
	defer st.s.wg.Done()
	defer st.cancel()
	var batch []api.Event
	var marks []capture.Position
	var tsMs int64 // latest source time in batch
	for {
		var it stageItem
		select {
		case it = <-st.in:
		case <-st.s.done:
			return
		}
		taken := 0
		for {
			taken++
			switch {
			case it.mark != nil:
				marks = append(marks, it.mark)
			case it.plain != nil:
				// A non-row event keeps its place: everything before it goes first.
				st.flush(batch, marks, tsMs)
				batch, marks = batch[:0], marks[:0]
				st.sendPlain(*it.plain)
			default:
				batch = append(batch, it.ev)
				tsMs = max(tsMs, it.tsMs)
			}
			if len(batch) >= st.max {
				break
			}
			var ok bool
			select {
			case it, ok = <-st.in:
			default:
			}
			if !ok {
				break
			}
		}
		st.flush(batch, marks, tsMs)
		// Drop references so the events' buffers can be collected.
		clear(batch)
		batch, marks = batch[:0], marks[:0]
		st.s.release(taken)
	}
}

// flush transforms and publishes batch, then queues marks. After a failure
// the sink is failed and nothing more becomes durable.
func (st *stage) flush(batch []api.Event, marks []capture.Position, tsMs int64) {
	if st.s.Err() != nil {
		return
	}
	if len(batch) > 0 {
		out, err := st.t.Transform(st.ctx, st.s.cfg.Source, batch)
		if err == nil {
			err = st.check(out)
		}
		if err != nil {
			st.s.fail(fmt.Errorf("transform: %w", err))
			return
		}
		for _, ev := range out {
			if err := st.sendEvent(ev, tsMs); err != nil {
				return
			}
		}
	}
	for _, m := range marks {
		if err := st.s.enqueue(st.ctx, entry{mark: m}); err != nil {
			return
		}
	}
}

// check refuses output that could not be published as intended: a subject
// outside the source's stream, or an id that would silently de-duplicate
// one event away.
func (st *stage) check(out []api.Event) error {
	prefix := st.s.cfg.SubjectPrefix + "." + st.s.cfg.Source + "."
	seen := make(map[string]struct{}, len(out))
	for _, ev := range out {
		if ev.ID == "" {
			return capture.Permanent(fmt.Errorf("an output event has no id (subject %q)", ev.Subject))
		}
		if !strings.HasPrefix(ev.Subject, prefix) || len(ev.Subject) == len(prefix) {
			return capture.Permanent(fmt.Errorf("event %s: subject %q is outside the source's stream (%s>)", ev.ID, ev.Subject, prefix))
		}
		for _, tok := range strings.Split(ev.Subject[len(prefix):], ".") {
			if !subject.ValidToken(tok) {
				return capture.Permanent(fmt.Errorf("event %s: subject %q: %q is not a valid subject token (see package capture/subject for how names map to tokens)", ev.ID, ev.Subject, tok))
			}
		}
		if _, dup := seen[ev.ID]; dup {
			return capture.Permanent(fmt.Errorf("two output events share the id %s: give split events derived ids", ev.ID))
		}
		seen[ev.ID] = struct{}{}
	}
	return nil
}

// sendEvent publishes one output event. The events metric counts it under
// the table and operation its subject and type name, as for untransformed
// events.
func (st *stage) sendEvent(ev api.Event, tsMs int64) error {
	msg := nats.NewMsg(ev.Subject)
	msg.Data = ev.Data
	st.header(msg, ev.ID, ev.Type, ev.Time)
	rest := strings.TrimPrefix(ev.Subject, st.s.cfg.SubjectPrefix+"."+st.s.cfg.Source+".")
	msg.Header.Set("ce-subject", rest)
	schema, table, _ := strings.Cut(rest, ".")
	// The metrics label the real names, as for untransformed events.
	if n, err := subject.Decode(schema); err == nil {
		schema = n
	}
	if n, err := subject.Decode(table); err == nil {
		table = n
	}
	meta := &capture.Change{Op: opOfType(ev.Type), Source: capture.SourceMeta{Schema: schema, Table: table, TsMs: tsMs}}
	return st.s.send(st.ctx, msg, ev.ID, meta)
}

// opOfType maps a ce-type back to its operation.
func opOfType(t string) capture.Op {
	for _, op := range []capture.Op{capture.OpCreate, capture.OpUpdate, capture.OpDelete, capture.OpRead, capture.OpTruncate} {
		if t == ceType(op) {
			return op
		}
	}
	return capture.Op(strings.TrimPrefix(t, "io.ficus.cdc."))
}

func (st *stage) sendPlain(ev Event) {
	if st.s.Err() != nil {
		return
	}
	msg := nats.NewMsg(st.s.cfg.SubjectPrefix + "." + st.s.cfg.Source + "." + ev.Subject)
	msg.Data = ev.Data
	st.header(msg, ev.ID, ev.Type, ev.Time)
	_ = st.s.send(st.ctx, msg, ev.ID, nil) // a failure fails the sink
}

func (st *stage) header(msg *nats.Msg, id, typ string, at time.Time) {
	msg.Header.Set(jetstream.MsgIDHeader, id)
	msg.Header.Set("ce-specversion", "1.0")
	msg.Header.Set("ce-id", id)
	msg.Header.Set("ce-source", "/ficus/"+st.s.cfg.Source)
	msg.Header.Set("ce-type", typ)
	msg.Header.Set("ce-time", at.UTC().Format(time.RFC3339Nano))
	msg.Header.Set("content-type", "application/json")
}
