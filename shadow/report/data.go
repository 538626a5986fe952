package report

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/shadow/dual"
)

// DataReport is one data comparison's part of a Report: the findings of
// FICUS_DATA in the window and which of them are still open (their key's
// last finding is not a resolution).
type DataReport struct {
	Name     string         `json:"name"`
	Findings int            `json:"findings"`
	ByKind   map[string]int `json:"by_kind"`
	Open     int            `json:"open"`
	Resolved int            `json:"resolved"`
	// Examples are the open findings, by key, at most MaxDataExamples.
	Examples []dual.Finding `json:"examples"`
}

// MaxDataExamples bounds the open findings listed per comparison.
const MaxDataExamples = 50

// ReadData returns the findings of FICUS_DATA published at or after since.
func ReadData(ctx context.Context, js jetstream.JetStream, since time.Time) ([]dual.Finding, error) {
	stream, err := js.Stream(ctx, dual.FindingsStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", dual.FindingsStream, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("stream %s info: %w", dual.FindingsStream, err)
	}
	if info.State.Msgs == 0 || info.State.LastTime.Before(since) {
		return nil, nil
	}
	start := since
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartTimePolicy,
		OptStartTime:  &start,
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dual.FindingsStream, err)
	}
	var out []dual.Finding
	for {
		msg, err := cons.Next(jetstream.FetchMaxWait(time.Second))
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) || errors.Is(err, context.DeadlineExceeded) ||
			errors.Is(err, jetstream.ErrNoMessages) || errors.Is(err, nats.ErrTimeout) || isTimeout(err) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("read %s: %w", dual.FindingsStream, err)
		}
		var f dual.Finding
		if err := json.Unmarshal(msg.Data(), &f); err == nil {
			out = append(out, f)
		}
		md, err := msg.Metadata()
		if err != nil {
			return out, fmt.Errorf("read %s: %w", dual.FindingsStream, err)
		}
		if md.NumPending == 0 || md.Sequence.Stream >= info.State.LastSeq {
			return out, nil
		}
		if err := ctx.Err(); err != nil {
			return out, err
		}
	}
}

// BuildData groups findings (in publication order) per comparison.
func BuildData(findings []dual.Finding) []DataReport {
	type acc struct {
		rep  DataReport
		last map[int64]dual.Finding
	}
	byName := map[string]*acc{}
	for _, f := range findings {
		a := byName[f.Name]
		if a == nil {
			a = &acc{rep: DataReport{Name: f.Name, ByKind: map[string]int{}, Examples: []dual.Finding{}}, last: map[int64]dual.Finding{}}
			byName[f.Name] = a
		}
		a.rep.Findings++
		a.rep.ByKind[f.Kind]++
		a.last[f.Key] = f
	}
	var out []DataReport
	for _, a := range byName {
		for _, f := range a.last {
			if f.Kind == dual.KindResolved {
				a.rep.Resolved++
				continue
			}
			a.rep.Open++
			a.rep.Examples = append(a.rep.Examples, f)
		}
		slices.SortFunc(a.rep.Examples, func(x, y dual.Finding) int { return cmp.Compare(x.Key, y.Key) })
		if len(a.rep.Examples) > MaxDataExamples {
			a.rep.Examples = a.rep.Examples[:MaxDataExamples]
		}
		out = append(out, a.rep)
	}
	slices.SortFunc(out, func(x, y DataReport) int { return strings.Compare(x.Name, y.Name) })
	return out
}

// describeFinding is one line of a finding for text and HTML.
func describeFinding(f dual.Finding) string {
	s := fmt.Sprintf("key %d: %s", f.Key, strings.ReplaceAll(f.Kind, "_", " "))
	if f.DeletedIn != "" {
		s += " (deleted in " + f.DeletedIn + ")"
	}
	for _, c := range f.Columns {
		s += fmt.Sprintf("; %s→%s legacy %s new %s", c.Legacy, c.New, nullable(c.LegacyValue), nullable(c.NewValue))
	}
	return s
}

func nullable(s *string) string {
	if s == nil {
		return "NULL"
	}
	return fmt.Sprintf("%q", *s)
}
