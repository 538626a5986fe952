package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/shadow/record"
)

// Read returns the records of FICUS_SHADOW published at or after since,
// of one route (or all when route is ""), reading with an ordered
// consumer until the stream's end at the time of the call.
func Read(ctx context.Context, js jetstream.JetStream, route string, since time.Time) ([]record.Mismatch, error) {
	stream, err := js.Stream(ctx, record.StreamName)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", record.StreamName, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("stream %s info: %w", record.StreamName, err)
	}
	if info.State.Msgs == 0 || info.State.LastTime.Before(since) {
		return nil, nil
	}
	subject := record.SubjectPrefix + ">"
	if route != "" {
		subject = record.Subject(route)
	}
	start := since
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject},
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
		OptStartTime:   &start,
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", record.StreamName, err)
	}
	var out []record.Mismatch
	for {
		msg, err := cons.Next(jetstream.FetchMaxWait(time.Second))
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) || errors.Is(err, context.DeadlineExceeded) ||
			errors.Is(err, jetstream.ErrNoMessages) || errors.Is(err, nats.ErrTimeout) || isTimeout(err) {
			// Nothing more for this filter (a route without records).
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("read %s: %w", record.StreamName, err)
		}
		var m record.Mismatch
		if err := json.Unmarshal(msg.Data(), &m); err == nil {
			out = append(out, m)
		}
		md, err := msg.Metadata()
		if err != nil {
			return out, fmt.Errorf("read %s: %w", record.StreamName, err)
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
