package replay

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/shadow/traffic/diff"
	"github.com/ficus-migrate/ficus/shadow/traffic/record"
	"github.com/ficus-migrate/ficus/shadow/traffic/recording"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// fixedResult is a replay of 10 exchanges: 6 matched, 2 with a price
// difference, 1 failed request, 1 POST skipped.
func fixedResult() *Result {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	x := func(i int, method string) recording.Exchange {
		return recording.Exchange{Time: t0.Add(time.Duration(i) * time.Second), Route: "orders", Method: method,
			Path: "/orders/" + string(rune('0'+i)), Served: "legacy",
			Answer: recording.Answer{Status: 200, Header: http.Header{"Content-Type": {"application/json"}},
				Body: recording.Body{Text: `{"price":10}`}}}
	}
	var outs []Outcome
	for i := range 10 {
		o := Outcome{Exchange: x(i, "GET"), New: record.Answer{Status: 200, Body: `{"price":10}`}}
		switch i {
		case 3, 7:
			o.New.Body = `{"price":11}`
			o.Diffs = []diff.Diff{{Path: "$.price", Kind: diff.KindValue, Legacy: json.RawMessage(`10`), New: json.RawMessage(`11`)}}
		case 5:
			o.Err = "dial tcp 127.0.0.1:1: connection refused"
		case 9:
			o.Exchange.Method = "POST"
			o.Skipped = "unsafe method (replay with --allow-writes)"
		}
		outs = append(outs, o)
	}
	return newResult("orders", outs, []string{"$.id"}, t0.Add(time.Hour), t0.Add(time.Hour+2*time.Second))
}

// TestRenderGolden: the text and JUnit forms of a fixed replay.
func TestRenderGolden(t *testing.T) {
	res := fixedResult()
	if res.Replayed != 9 || res.Matched != 6 || res.Mismatched != 3 || res.Errors != 1 || res.Skipped != 1 {
		t.Fatalf("counts %+v", res)
	}
	for _, tc := range []struct {
		file   string
		render func(*bytes.Buffer) error
	}{
		{"replay.txt", func(b *bytes.Buffer) error { return res.Text(b, 0.9) }},
		{"replay.xml", func(b *bytes.Buffer) error { return res.JUnit(b, 0.9) }},
		{"replay.json", func(b *bytes.Buffer) error { return res.JSON(b, 0.5) }},
	} {
		var b bytes.Buffer
		if err := tc.render(&b); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", tc.file)
		if *update {
			must(t, os.MkdirAll("testdata", 0o755))
			must(t, os.WriteFile(path, b.Bytes(), 0o644))
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update to create it)", err)
		}
		if !bytes.Equal(b.Bytes(), want) {
			t.Errorf("%s differs:\n%s", path, b.String())
		}
	}
}

// TestNothingReplayed: an empty (or all-skipped) replay does not pass.
func TestNothingReplayed(t *testing.T) {
	res := newResult("orders", []Outcome{{Skipped: "unsafe method (replay with --allow-writes)"}}, nil, time.Time{}, time.Time{})
	if s := res.Summary(0); s.Passed || s.MatchRate != 1 {
		t.Errorf("summary %+v: want not passed", s)
	}
	var b bytes.Buffer
	must(t, res.JUnit(&b, 0.99))
	if !bytes.Contains(b.Bytes(), []byte(`nothing replayed (1 exchanges skipped)`)) {
		t.Errorf("JUnit:\n%s", b.String())
	}
}

func TestParseHeaders(t *testing.T) {
	env := func(k string) (string, bool) {
		v, ok := map[string]string{"TOKEN": "t0k"}[k]
		return v, ok
	}
	for _, tc := range []struct {
		in      []string
		want    http.Header
		wantErr string
	}{
		{[]string{"Authorization: Bearer ${TOKEN}", "X-Env:staging"}, http.Header{"Authorization": {"Bearer t0k"}, "X-Env": {"staging"}}, ""},
		{[]string{"X-A: 1", "X-A: 2"}, http.Header{"X-A": {"1", "2"}}, ""},
		{[]string{"Authorization: Bearer ${MISSING}"}, nil, "--header Authorization: environment variable MISSING is not set"},
		{[]string{"no colon"}, nil, `--header "no colon": want 'Name: value'`},
		{[]string{"Bad Name: x"}, nil, `--header "Bad Name": want 'Name: value'`},
	} {
		got, err := ParseHeaders(tc.in, env)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("ParseHeaders(%q) error %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) || got.Get("Authorization") != tc.want.Get("Authorization") ||
			len(got.Values("X-A")) != len(tc.want.Values("X-A")) {
			t.Errorf("ParseHeaders(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
