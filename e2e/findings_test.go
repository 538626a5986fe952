package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/shadow/data/continuous"
)

// The data comparison as a consumer sees it: the figures of GET
// /api/data/{name} and the findings on FICUS_DATA.

// waitFigures polls the figures of the comparison "orders" until done accepts them.
func waitFigures(t *testing.T, adminAddr string, done func(continuous.Figures) bool) continuous.Figures {
	t.Helper()
	api := adminAPI(adminAddr, "")
	var f continuous.Figures
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		got, err := api.Data(t.Context(), "orders")
		if err != nil {
			continue
		}
		if f = got; done(f) {
			return f
		}
	}
	t.Fatalf("figures never settled: %+v", f)
	return f
}

// findingJSON is a FICUS_DATA finding as a consumer reads it: the field
// names are the contract.
type findingJSON struct {
	Key       int64  `json:"key"`
	Kind      string `json:"kind"`
	Previous  string `json:"previous"`
	DeletedIn string `json:"deleted_in"`
	Reason    string `json:"reason"`
	Columns   []struct {
		Legacy string  `json:"legacy_column"`
		New    string  `json:"new_column"`
		L      *string `json:"legacy"`
		N      *string `json:"new"`
	} `json:"columns"`
}

// readFindings reads exactly n findings of the comparison "orders" from
// FICUS_DATA (an extra one fails the test).
func readFindings(t *testing.T, nc *nats.Conn, n int) []findingJSON {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := js.OrderedConsumer(ctx, "FICUS_DATA", jetstream.OrderedConsumerConfig{FilterSubjects: []string{"ficus.data.orders"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []findingJSON
	for len(got) < n {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("after %d findings: %v", len(got), err)
		}
		var f findingJSON
		if err := json.Unmarshal(m.Data(), &f); err != nil {
			t.Fatal(err)
		}
		got = append(got, f)
	}
	if m, err := cons.Next(jetstream.FetchMaxWait(time.Second)); err == nil {
		t.Errorf("unexpected extra finding: %s", m.Data())
	}
	return got
}

// findings reads n findings from FICUS_DATA and describes them: sorted by
// key, a resolution last.
func findings(t *testing.T, nc *nats.Conn, n int) []string {
	t.Helper()
	got := readFindings(t, nc, n)
	sort.SliceStable(got, func(i, j int) bool {
		if (got[i].Kind == "resolved") != (got[j].Kind == "resolved") {
			return got[j].Kind == "resolved"
		}
		return got[i].Key < got[j].Key
	})
	var out []string
	for _, f := range got {
		s := fmt.Sprintf("%d %s", f.Key, f.Kind)
		switch {
		case f.Kind == "resolved":
			s += " " + f.Previous
		case f.DeletedIn != "":
			s += " in " + f.DeletedIn
		}
		for _, c := range f.Columns {
			s += fmt.Sprintf(" %s→%s=%s/%s", c.Legacy, c.New, deref(c.L), deref(c.N))
		}
		out = append(out, s)
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return "NULL"
	}
	return *s
}
