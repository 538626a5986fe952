package recording

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/shadow/report"
)

// Read returns the exchanges of route recorded at or after since, oldest
// first, up to the stream's end at the time of the call; limit > 0 keeps
// the first limit of them.
func Read(ctx context.Context, js jetstream.JetStream, route string, since time.Time, limit int) ([]Exchange, error) {
	xs, err := report.ReadStream[Exchange](ctx, js, StreamName, Subject(route), since)
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	return keep(xs, route, since, limit), nil
}

// WriteJSONL writes xs one JSON document a line: `ficus replay export`.
func WriteJSONL(w io.Writer, xs []Exchange) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, x := range xs {
		if err := enc.Encode(x); err != nil {
			return fmt.Errorf("recording: write: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("recording: write: %w", err)
	}
	return nil
}

// ReadJSONL reads what WriteJSONL wrote and keeps, like Read, the
// exchanges of route (all when route is "") at or after since, up to limit
// (> 0). A line that does not decode is an error naming the line.
func ReadJSONL(r io.Reader, route string, since time.Time, limit int) ([]Exchange, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	var xs []Exchange
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var x Exchange
		if err := json.Unmarshal(line, &x); err != nil {
			return nil, fmt.Errorf("recording: line %d: %w", n, err)
		}
		xs = append(xs, x)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("recording: read: %w", err)
	}
	return keep(xs, route, since, limit), nil
}

func keep(xs []Exchange, route string, since time.Time, limit int) []Exchange {
	out := xs[:0]
	for _, x := range xs {
		if (route != "" && x.Route != route) || x.Time.Before(since) {
			continue
		}
		out = append(out, x)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out
}
