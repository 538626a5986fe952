package sink

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/plugins/api"
)

// splitter splits every event in two with derived ids, drops ids ending in
// "drop", and re-routes with the given subject suffix.
type splitter struct{ suffix string }

func (s splitter) Transform(_ context.Context, _ string, batch []api.Event) ([]api.Event, error) {
	var out []api.Event
	for _, e := range batch {
		if strings.HasSuffix(e.ID, "drop") {
			continue
		}
		a, b := e.Derive("a"), e.Derive("b")
		b.Subject += s.suffix
		out = append(out, a, b)
	}
	return out, nil
}

func TestSinkTransform(t *testing.T) {
	ns := testenv.MustStartNATS(t)
	nc := ns.Connect(t)
	for _, tc := range []struct {
		name    string
		suffix  string
		wantIDs []string
		wantErr string
	}{
		{name: "split, drop and re-route", suffix: "_v2",
			wantIDs: []string{"x1/a", "x1/b", "x3/a", "x3/b"}},
		{name: "subject outside the stream", suffix: "\x00", wantErr: "outside the source's stream"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			src := fmt.Sprintf("tr%d", len(tc.suffix))
			tr := splitter{suffix: tc.suffix}
			if tc.wantErr != "" {
				tr.suffix = ""
			}
			met, err := capture.NewMetrics(prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(ctx, Config{Conn: nc, Source: src, TransformBatch: 2, Metrics: met, Transform: transformFunc(func(ctx context.Context, source string, b []api.Event) ([]api.Event, error) {
				out, err := tr.Transform(ctx, source, b)
				if tc.wantErr != "" {
					for i := range out {
						out[i].Subject = "elsewhere.t"
					}
				}
				return out, err
			})})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			// Once a batch failed, Publish and Mark return the sink's error
			// too: which call reports it depends on the stage's timing.
			err = nil
			for _, id := range []string{"x1", "x2drop", "x3"} {
				c := change(id)
				c.Source.Name = src
				if err = s.Publish(ctx, c); err != nil {
					break
				}
			}
			if err == nil {
				err = s.Mark(ctx, pos("p1"))
			}
			if err == nil {
				err = s.Flush(ctx)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !capture.IsPermanent(err) {
					t.Fatalf("flush: %v, want a permanent %q", err, tc.wantErr)
				}
				if s.Durable() != nil {
					t.Fatal("position confirmed although its events were not published")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := s.Durable(); d != pos("p1") {
				t.Fatalf("durable = %v", d)
			}
			st, err := s.JetStream().Stream(ctx, StreamName(src))
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range tc.wantIDs {
				m, err := st.GetMsg(ctx, uint64(i+1))
				if err != nil {
					t.Fatal(err)
				}
				wantSubject := "ficus.cdc." + src + ".public.t"
				if strings.HasSuffix(want, "/b") {
					wantSubject += tc.suffix
				}
				if id := m.Header.Get("Nats-Msg-Id"); id != want || m.Subject != wantSubject ||
					m.Header.Get("ce-type") != "io.ficus.cdc.create" || !strings.Contains(string(m.Data), `"after":{"id":"x`) {
					t.Errorf("message %d: %s %s %v %s", i+1, id, m.Subject, m.Header, m.Data)
				}
			}
			if info, _ := st.Info(ctx); info.State.Msgs != uint64(len(tc.wantIDs)) {
				t.Errorf("%d messages in the stream, want %d", info.State.Msgs, len(tc.wantIDs))
			}
			// The events metric counts what was published, under its table.
			for _, table := range []string{"public.t", "public.t" + tc.suffix} {
				if n := testutil.ToFloat64(met.Events.WithLabelValues(src, table, "c")); n != 2 {
					t.Errorf("ficus_capture_events_total for %s = %v, want 2", table, n)
				}
			}
		})
	}
}

type transformFunc func(context.Context, string, []api.Event) ([]api.Event, error)

func (f transformFunc) Transform(ctx context.Context, source string, b []api.Event) ([]api.Event, error) {
	return f(ctx, source, b)
}
