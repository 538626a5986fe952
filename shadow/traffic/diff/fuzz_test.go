package diff

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// fuzzRules exercises every rule kind at once.
var fuzzRules = Rules{
	Ignore:           []string{"$.meta.request_id", "$.items[*].updated_at", "$.*.secret", "$[0][*]", "header:Date"},
	Headers:          []string{"Content-Type", "ETag"},
	Unordered:        []string{"$.items", "$.items[*].tags", "$", "$.a[*]"},
	NumericTolerance: 1e-6,
	MaxDiffs:         20,
}

// FuzzCompare feeds arbitrary bodies and content types: Compare must not
// panic, must keep its invariants, and must see a JSON document and its
// compacted form as equal.
func FuzzCompare(f *testing.F) {
	seeds := [][2]string{
		{`{"a":1}`, `{"a":2}`},
		{`{"items":[{"id":1,"tags":["x","y"]},{"id":2}]}`, `{"items":[{"id":2},{"id":1,"tags":["y","x"]}]}`},
		{`[1,2,3]`, `[3,2,1]`},
		{`[[1,2],[3]]`, `[[3],[2,1]]`},
		{`{"n":9007199254740993,"e":1e400,"f":-0.0}`, `{"n":9007199254740992,"e":1E+400,"f":0}`},
		{`{"meta":{"request_id":"x"},"u":{"secret":1}}`, `{"meta":{},"u":{"secret":2}}`},
		{"{\"\xff\":\"\xfe\"}", `{"\ufffd":"x"}`},
		{`{"a":[1,`, `{"a":[1]}`},
		{"line1\nline2\r\n", "line1\nline3\n"},
		{`1e99999999999999999999999`, `1e99999999999999999999998`},
		{"", "null"},
	}
	files, _ := filepath.Glob(filepath.Join(goldenDir, "*.json"))
	for _, file := range files {
		var gc goldenCase
		if raw, err := os.ReadFile(file); err == nil && json.Unmarshal(raw, &gc) == nil {
			seeds = append(seeds, [2]string{string(gc.Legacy.BodyJSON) + gc.Legacy.Body, string(gc.New.BodyJSON) + gc.New.Body})
		}
	}
	cts := []string{"application/json", "text/plain", "application/octet-stream", "application/x+json; charset=utf-8"}
	for i, s := range seeds {
		f.Add([]byte(s[0]), []byte(s[1]), cts[i%len(cts)], cts[(i/len(cts))%len(cts)], i%7 == 0)
	}
	c, err := Compile(fuzzRules)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, a, b []byte, ctA, ctB string, truncated bool) {
		la := Answer{Status: 200, ContentType: ctA, Body: a, Truncated: truncated && len(a) > 0}
		nb := Answer{Status: 200, ContentType: ctB, Body: b}
		r := c.Compare(la, nb)
		checkResult(t, r, fuzzRules.MaxDiffs)
		_ = r.Signature()
		for _, d := range r.Diffs {
			if g := Generalize(d.Path); Generalize(g) != g {
				t.Fatalf("Generalize not idempotent on %q", d.Path)
			}
		}
		if !json.Valid(a) {
			return
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, a); err != nil {
			t.Fatal(err)
		}
		self := Answer{Status: 200, ContentType: "application/json", Body: a}
		other := Answer{Status: 200, ContentType: "application/json", Body: compact.Bytes()}
		if r := c.Compare(self, other); !r.Match() {
			t.Fatalf("document differs from its compact form: %+v", r.Diffs)
		}
	})
}

// FuzzCompile checks that rule parsing never panics and that accepted
// paths survive Generalize.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{"$", "$.a[*].b", `$["x y"][3]`, "header:Date", "$.a[", `$["\u00e9"]`, ".*", "[*][0]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		_, _ = Compile(Rules{Ignore: []string{p}, Unordered: []string{p}, Headers: []string{p}})
		_ = Generalize(p)
	})
}
