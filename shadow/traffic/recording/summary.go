package recording

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// RouteRecordings is what FICUS_TRAFFIC holds for one route: the
// dashboard's recordings panel.
type RouteRecordings struct {
	Route string `json:"route"`
	Count uint64 `json:"count"`
	// Bytes is an estimate: the stream's mean message size times Count
	// (JetStream keeps no size per subject).
	Bytes  uint64     `json:"bytes"`
	Oldest *time.Time `json:"oldest,omitempty"`
	// LastReplay is the summary the last `ficus replay` from the stream
	// published (replay.Summary), as it was published.
	LastReplay json.RawMessage `json:"last_replay,omitempty"`
}

// Recordings returns the figures of routes, in their order.
func Recordings(ctx context.Context, js jetstream.JetStream, routes []string) ([]RouteRecordings, error) {
	out := make([]RouteRecordings, len(routes))
	for i, r := range routes {
		out[i].Route = r
	}
	stream, err := js.Stream(ctx, StreamName)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("recordings: %w", err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(SubjectPrefix+">"))
	if err != nil {
		return nil, fmt.Errorf("recordings: %w", err)
	}
	var mean uint64
	if info.State.Msgs > 0 {
		mean = info.State.Bytes / info.State.Msgs
	}
	for i := range out {
		rr := &out[i]
		rr.Count = info.State.Subjects[Subject(rr.Route)]
		rr.Bytes = rr.Count * mean
		if rr.Count > 0 {
			if rr.Oldest, err = oldest(ctx, stream, Subject(rr.Route)); err != nil {
				return nil, err
			}
		}
		msg, err := stream.GetLastMsgForSubject(ctx, SummarySubject(rr.Route))
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
		case err != nil:
			return nil, fmt.Errorf("recordings: last replay of %s: %w", rr.Route, err)
		case json.Valid(msg.Data):
			rr.LastReplay = msg.Data
		}
	}
	return out, nil
}

// oldest is the time the first message of subject was stored.
func oldest(ctx context.Context, stream jetstream.Stream, subject string) (*time.Time, error) {
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		return nil, fmt.Errorf("recordings: %w", err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(2 * time.Second))
	if errors.Is(err, jetstream.ErrNoMessages) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
		return nil, nil // expired meanwhile
	}
	if err != nil {
		return nil, fmt.Errorf("recordings: %w", err)
	}
	md, err := msg.Metadata()
	if err != nil {
		return nil, fmt.Errorf("recordings: %w", err)
	}
	t := md.Timestamp.UTC()
	return &t, nil
}
