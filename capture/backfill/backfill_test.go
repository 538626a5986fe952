package backfill

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		name   string
		engine canon.Engine
		in     Request
		chunk  int
		err    string
	}{
		{"defaults", canon.Postgres, Request{Table: " public.t "}, DefaultChunk, ""},
		{"chunk kept", canon.MySQL, Request{Table: "db.t", Chunk: 7}, 7, ""},
		{"where", canon.Postgres, Request{Table: "public.t", Where: "a > 1 AND b = 'x;y'"}, DefaultChunk, ""},
		{"no schema", canon.Postgres, Request{Table: "t"}, 0, "schema.table"},
		{"negative chunk", canon.Postgres, Request{Table: "public.t", Chunk: -1}, 0, "chunk"},
		{"chunk too large", canon.Postgres, Request{Table: "public.t", Chunk: MaxChunk + 1}, 0, "chunk"},
		{"second statement", canon.Postgres, Request{Table: "public.t", Where: "true; DROP TABLE t"}, 0, "second statement"},
		{"comment", canon.MySQL, Request{Table: "db.t", Where: "1 # x"}, 0, "comment"},
		{"way out of the parentheses", canon.Postgres, Request{Table: "public.t", Where: "1=1) OR (1=1"}, 0, "parenthesis"},
		{"dollar quoting", canon.Postgres, Request{Table: "public.t", Where: "a = $$x$$"}, 0, "dollar"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.in
			err := r.Normalize(tc.engine)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Normalize(%+v) = %v, want an error about %q", tc.in, err, tc.err)
				}
				return
			}
			if err != nil || r.Chunk != tc.chunk || strings.TrimSpace(r.Table) != r.Table {
				t.Fatalf("Normalize(%+v) = %+v, %v", tc.in, r, err)
			}
		})
	}
}

func row(id int) capture.Row {
	return capture.Row{{Name: "id", Value: json.Number(string(rune('0' + id)))}}
}

func chunkOf(t *testing.T, ids ...int) *Chunk {
	c := &Chunk{}
	for _, id := range ids {
		k, err := KeyString("s.t", row(id))
		if err != nil {
			t.Fatal(err)
		}
		c.Rows = append(c.Rows, Row{Key: k, Change: &capture.Change{Op: capture.OpRead, Key: row(id), After: row(id)}})
	}
	return c
}

// TestWindows: a change streamed between the watermarks drops its key from
// the chunk; one before the low watermark, of another table or after the
// high one does not; a truncate drops the whole chunk; watermarks this
// process did not write emit nothing.
func TestWindows(t *testing.T) {
	type step struct {
		kind  string // low, high, change, nokey, truncate, chunk
		table string
		id    int
	}
	for _, tc := range []struct {
		name  string
		steps []step
		want  []int // ids emitted at the high watermark; nil: no emit
	}{
		{"no change", []step{{"low", "", 0}, {"chunk", "", 0}, {"high", "", 0}}, []int{1, 2, 3}},
		{"change in the window", []step{{"low", "", 0}, {"change", "s.t", 2}, {"chunk", "", 0}, {"high", "", 0}}, []int{1, 3}},
		{"change after the read, before high", []step{{"low", "", 0}, {"chunk", "", 0}, {"change", "s.t", 3}, {"high", "", 0}}, []int{1, 2}},
		{"change before low", []step{{"change", "s.t", 2}, {"low", "", 0}, {"chunk", "", 0}, {"high", "", 0}}, []int{1, 2, 3}},
		{"empty key", []step{{"low", "", 0}, {"nokey", "s.t", 0}, {"chunk", "", 0}, {"high", "", 0}}, []int{1, 2, 3}},
		{"other table", []step{{"low", "", 0}, {"change", "s.u", 2}, {"chunk", "", 0}, {"high", "", 0}}, []int{1, 2, 3}},
		{"truncate", []step{{"low", "", 0}, {"truncate", "s.t", 0}, {"chunk", "", 0}, {"high", "", 0}}, []int{}},
		{"high without low", []step{{"chunk", "", 0}, {"high", "", 0}}, nil},
		{"high before the chunk", []step{{"low", "", 0}, {"high", "", 0}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := NewWindows("src")
			win := w.add("w1", "s.t")
			var emit *Emit
			for _, s := range tc.steps {
				switch s.kind {
				case "low":
					if e := w.Signal(Low, "w1"); e != nil {
						t.Fatal("low watermark emitted rows")
					}
					if w.Signal(Low, "other") != nil || w.Signal(High, "other") != nil {
						t.Fatal("a foreign watermark emitted rows")
					}
				case "high":
					emit = w.Signal(High, "w1")
				case "change":
					w.Changed(s.table, row(s.id))
				case "truncate":
					w.Truncated(s.table)
				case "nokey":
					w.Changed(s.table, capture.Row{})
				case "chunk":
					w.setChunk("w1", chunkOf(t, 1, 2, 3))
				}
			}
			if tc.want == nil {
				if emit != nil {
					t.Fatalf("emitted %d rows, want none", len(emit.Rows))
				}
				return
			}
			if emit == nil {
				t.Fatal("nothing emitted at the high watermark")
			}
			var got []int
			for _, c := range emit.Rows {
				got = append(got, int(c.Key[0].Value.(json.Number)[0]-'0'))
			}
			if len(got) != len(tc.want) {
				t.Fatalf("emitted %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("emitted %v, want %v", got, tc.want)
				}
			}
			emit.Done()
			<-win.done
			if win.emitted != int64(len(tc.want)) || w.open.Load() != 0 {
				t.Fatalf("emitted %d, open windows %d", win.emitted, w.open.Load())
			}
		})
	}
}
