package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/shadow/data/continuous"
	"github.com/ficus-migrate/ficus/shadow/traffic/record"
)

// Read returns the records of FICUS_SHADOW published at or after since,
// of one route (or all when route is ""), reading with an ordered
// consumer until the stream's end at the time of the call. Records of
// older ficus versions are redacted again (record.Recheck): the stream
// keeps them for days after an upgrade.
func Read(ctx context.Context, js jetstream.JetStream, route string, since time.Time) ([]record.Mismatch, error) {
	subject := record.SubjectPrefix + ">"
	if route != "" {
		subject = record.Subject(route)
	}
	recs, err := readStream[record.Mismatch](ctx, js, record.StreamName, subject, since)
	for i := range recs {
		recs[i] = record.Recheck(recs[i])
	}
	return recs, err
}

// ReadTallies returns the tallies of FICUS_SHADOW published at or after
// since, of one route (or all when route is "").
func ReadTallies(ctx context.Context, js jetstream.JetStream, route string, since time.Time) ([]record.Tally, error) {
	subject := record.TallyPrefix + ">"
	if route != "" {
		subject = record.TallySubject(route)
	}
	return readStream[record.Tally](ctx, js, record.StreamName, subject, since)
}

// ReadData returns the findings of FICUS_DATA published at or after since.
func ReadData(ctx context.Context, js jetstream.JetStream, since time.Time) ([]continuous.Finding, error) {
	return readStream[continuous.Finding](ctx, js, continuous.FindingsStream, "", since)
}

// readStream decodes the JSON messages of stream (those of subject, or all
// when subject is "") published at or after since, up to the stream's end
// at the time of the call. A missing stream holds nothing; a message that
// does not decode is skipped.
func readStream[T any](ctx context.Context, js jetstream.JetStream, name, subject string, since time.Time) ([]T, error) {
	stream, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", name, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("stream %s info: %w", name, err)
	}
	if info.State.Msgs == 0 || info.State.LastTime.Before(since) {
		return nil, nil
	}
	start := since
	cc := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &start}
	if subject != "" {
		cc.FilterSubjects = []string{subject}
	}
	cons, err := stream.OrderedConsumer(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	var out []T
	for {
		msg, err := cons.Next(jetstream.FetchMaxWait(time.Second))
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) || errors.Is(err, context.DeadlineExceeded) ||
			errors.Is(err, jetstream.ErrNoMessages) || errors.Is(err, nats.ErrTimeout) || isTimeout(err) {
			// Nothing more for this filter (a route without records).
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("read %s: %w", name, err)
		}
		var v T
		if err := json.Unmarshal(msg.Data(), &v); err == nil {
			out = append(out, v)
		}
		md, err := msg.Metadata()
		if err != nil {
			return out, fmt.Errorf("read %s: %w", name, err)
		}
		if md.NumPending == 0 || md.Sequence.Stream >= info.State.LastSeq {
			return out, nil
		}
		if err := ctx.Err(); err != nil {
			return out, err
		}
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// ReadStream is readStream for the other streams ficus reads the same way
// (FICUS_TRAFFIC for `ficus replay`).
func ReadStream[T any](ctx context.Context, js jetstream.JetStream, name, subject string, since time.Time) ([]T, error) {
	return readStream[T](ctx, js, name, subject, since)
}
