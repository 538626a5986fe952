package diff

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

var jsonHeader = http.Header{"Content-Type": {"application/json"}}

func jsonAnswer(body string) Answer {
	return Answer{Status: 200, Header: jsonHeader, Body: []byte(body)}
}

func TestCompileValidation(t *testing.T) {
	tests := []struct {
		name    string
		rules   Rules
		wantErr string
	}{
		{"empty", Rules{}, ""},
		{"issue example", Rules{
			Ignore:    []string{"$.meta.request_id", "$.items[*].updated_at", "header:Date", "header:X-Request-Id"},
			Headers:   []string{"Content-Type", "Cache-Control"},
			Unordered: []string{"$.items"}, NumericTolerance: 0.000001}, ""},
		{"root and quoted", Rules{Ignore: []string{"$", `$["a b"][0].*`, ".x", "[2]"}}, ""},
		{"no dollar", Rules{Ignore: []string{"items"}}, `must start with "$"`},
		{"empty key", Rules{Ignore: []string{"$.a..b"}}, "empty key"},
		{"bad index", Rules{Unordered: []string{"$.a[x]"}}, "bad index"},
		{"unterminated bracket", Rules{Ignore: []string{"$.a[1"}}, "unterminated"},
		{"unterminated quote", Rules{Ignore: []string{`$["a`}}, "unterminated quoted key"},
		{"junk after root", Rules{Ignore: []string{"$x"}}, "unexpected"},
		{"bad header ignore", Rules{Ignore: []string{"header:"}}, "invalid header name"},
		{"bad header", Rules{Headers: []string{"Content Type"}}, "not a valid header name"},
		{"negative tolerance", Rules{NumericTolerance: -1}, "numeric_tolerance"},
		{"negative max diffs", Rules{MaxDiffs: -1}, "max diffs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.rules)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestGeneralize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"$.items[3].price", "$.items[*].price"},
		{"$[0][12]", "$[*][*]"},
		{`$["a[1]"][2]`, `$["a[1]"][*]`},
		{`$["q\"[1]"][2]`, `$["q\"[1]"][*]`},
		{"$.items[*]", "$.items[*]"},
		{"header:X[1]", "header:X[1]"},
		{"body:line:12", "body:line:12"},
		{"status", "status"},
		{"$.a[", "$.a["},
		{`$["unterminated[1]`, `$["unterminated[1]`},
	}
	for _, tt := range tests {
		if got := Generalize(tt.in); got != tt.want {
			t.Errorf("Generalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRenderParseRoundTrip(t *testing.T) {
	paths := [][]seg{
		{},
		{{key: "items"}, {idx: 3, isIdx: true}, {key: "price"}},
		{{key: "odd key"}, {key: "*"}, {key: `q"uote\`}, {key: "a.b[1]"}, {key: ""}},
		{{key: "é"}, {key: "_x9"}, {key: "9x"}},
	}
	for _, p := range paths {
		s := renderPath(p)
		back, err := parsePattern(s)
		if err != nil {
			t.Fatalf("parse(%q): %v", s, err)
		}
		if !matchPath(back, p) {
			t.Errorf("%q parsed back to %+v, not matching %+v", s, back, p)
		}
		for _, sg := range back {
			if sg.wild {
				t.Errorf("%q: literal key parsed as a wildcard", s)
			}
		}
	}
}

func TestCanonicalNumber(t *testing.T) {
	tests := []struct {
		a, b  string
		equal bool
	}{
		{"1", "1.0", true},
		{"100", "1e2", true},
		{"0.1", "0.10", true},
		{"-0", "0", true},
		{"0e5", "0.000", true},
		{"1.5", "15E-1", true},
		{"12345678901234567890123", "12345678901234567890123.0", true},
		{"9007199254740993", "9007199254740992", false},
		{"-1", "1", false},
		{"1e999999999999999999999", "1e999999999999999999998", false},
	}
	for _, tt := range tests {
		if got := numbersEqual(tt.a, tt.b, 0); got != tt.equal {
			t.Errorf("numbersEqual(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.equal)
		}
	}
}

func TestNumericTolerance(t *testing.T) {
	tests := []struct {
		a, b  string
		tol   float64
		equal bool
	}{
		{"0", "0.0000001", 1e-6, true},       // absolute near zero
		{"1000000", "1000000.5", 1e-6, true}, // relative for large values
		{"1000000", "1000002", 1e-6, false},
		{"19.99", "19.98", 1e-6, false},
		{"1e400", "1e401", 1, false}, // out of float range: never within tolerance
		{"9007199254740993", "9007199254740992", 1e-9, true},
	}
	for _, tt := range tests {
		if got := numbersEqual(tt.a, tt.b, tt.tol); got != tt.equal {
			t.Errorf("numbersEqual(%s, %s, %g) = %v, want %v", tt.a, tt.b, tt.tol, got, tt.equal)
		}
	}
}

func TestSignatureStableAndDeduplicated(t *testing.T) {
	c, err := Compile(Rules{})
	if err != nil {
		t.Fatal(err)
	}
	a := jsonAnswer(`{"items":[{"p":1},{"p":2},{"p":3}],"z":1}`)
	b := jsonAnswer(`{"items":[{"p":9},{"p":8},{"p":3}],"z":2}`)
	r := c.Compare(a, b)
	if got, want := r.Signature(), "$.items[*].p,$.z"; got != want {
		t.Fatalf("Signature = %q, want %q", got, want)
	}
	for range 20 {
		if got := c.Compare(a, b).Signature(); got != r.Signature() {
			t.Fatalf("unstable signature %q vs %q", got, r.Signature())
		}
	}
	if (Result{}).Signature() != "" || !(Result{}).Match() {
		t.Fatal("empty result must match with an empty signature")
	}
}

// TestValuesAreCappedValidJSON checks the bounds on hostile bodies: huge
// values and keys, invalid UTF-8 and many diffs.
func TestValuesAreCappedValidJSON(t *testing.T) {
	big := strings.Repeat("x", 10000)
	var many strings.Builder
	many.WriteString("[")
	for i := range 1000 {
		fmt.Fprintf(&many, "%d,", i)
	}
	many.WriteString("0]")
	tests := []struct{ name, a, b string }{
		{"huge string", `{"a":"` + big + `"}`, `{"a":"y"}`},
		{"huge key", `{"` + big + `":1}`, `{"` + big + `":2}`},
		{"huge missing object", `{"a":{"b":"` + big + `","c":[1,2,3]}}`, `{}`},
		{"invalid utf8", "{\"a\":\"\xff\xfe\"}", `{"a":"\u0000"}`},
		{"many diffs", many.String(), strings.ReplaceAll(many.String(), ",", ",1")},
		{"invalid json", "{" + big, `{}`},
	}
	c, err := Compile(Rules{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.Compare(jsonAnswer(tt.a), jsonAnswer(tt.b))
			if r.Match() {
				t.Fatal("want a difference")
			}
			checkResult(t, r, DefaultMaxDiffs)
			for _, d := range r.Diffs {
				if len(d.Path) > maxKeyRender+32 {
					t.Errorf("path of %d bytes", len(d.Path))
				}
			}
		})
	}
}

// checkResult asserts the invariants every Result must hold.
func checkResult(t *testing.T, r Result, maxDiffs int) {
	t.Helper()
	if len(r.Diffs) > maxDiffs+1 {
		t.Fatalf("%d diffs, cap %d", len(r.Diffs), maxDiffs)
	}
	for i, d := range r.Diffs {
		for _, v := range []json.RawMessage{d.Legacy, d.New} {
			if v != nil && (!json.Valid(v) || len(v) > 2*maxValueBytes+64) {
				t.Fatalf("diff %s: bad value %q", d.Path, v)
			}
		}
		if i > 0 && r.Diffs[i-1].Path > d.Path {
			t.Fatalf("diffs not sorted: %q before %q", r.Diffs[i-1].Path, d.Path)
		}
		if d.Kind == KindTruncated && len(r.Diffs) != maxDiffs+1 {
			t.Fatalf("truncated marker with %d diffs", len(r.Diffs))
		}
	}
	if _, err := json.Marshal(r); err != nil {
		t.Fatalf("result does not marshal: %v", err)
	}
}

func TestDiffCapExact(t *testing.T) {
	c, err := Compile(Rules{MaxDiffs: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Exactly as many diffs as the cap: no truncation marker.
	r := c.Compare(jsonAnswer(`{"a":1,"b":2,"c":3}`), jsonAnswer(`{"a":0,"b":0,"c":3}`))
	if len(r.Diffs) != 2 || r.Diffs[0].Kind == KindTruncated || r.Diffs[1].Kind == KindTruncated {
		t.Fatalf("got %+v", r.Diffs)
	}
	r = c.Compare(jsonAnswer(`{"a":1,"b":2,"c":3}`), jsonAnswer(`{"a":0,"b":0,"c":0}`))
	if len(r.Diffs) != 3 || r.Diffs[0].Path != "$" || r.Diffs[0].Kind != KindTruncated {
		t.Fatalf("got %+v", r.Diffs)
	}
	r = c.Compare(Answer{Body: []byte("a\nb\nc"), ContentType: "text/plain"}, Answer{Body: []byte("x\ny\nz"), ContentType: "text/plain"})
	if len(r.Diffs) != 3 || r.Diffs[0].Path != "body" || r.Diffs[0].Kind != KindTruncated {
		t.Fatalf("text: got %+v", r.Diffs)
	}
}

func TestCompareConcurrent(t *testing.T) {
	c, err := Compile(Rules{Unordered: []string{"$.items"}, Ignore: []string{"$.items[*].t"}})
	if err != nil {
		t.Fatal(err)
	}
	a := jsonAnswer(`{"items":[{"id":1,"t":1},{"id":2}],"x":1}`)
	b := jsonAnswer(`{"items":[{"id":2},{"id":1,"t":2}],"x":2}`)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if sig := c.Compare(a, b).Signature(); sig != "$.x" {
					t.Errorf("signature %q", sig)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestAddExponent(t *testing.T) {
	long := "100000000000000000000" // 1e20
	tests := []struct {
		text  string
		shift int64
		want  string
	}{
		{"5", -2, "3"},
		{"-5", 7, "2"},
		{"0005", 0, "5"},
		{"+12", 1, "13"},
		{long, -1, "99999999999999999999"},
		{long, 5, "100000000000000000005"},
		{"-" + long, 1, "-99999999999999999999"},
		{"-" + long, -3, "-100000000000000000003"},
		{"99999999999999999999", 1, long},
		{"99999999999999999999", 123456, "100000000000000123455"},
	}
	for _, tt := range tests {
		if got := addExponent(tt.text, tt.shift); got != tt.want {
			t.Errorf("addExponent(%q, %d) = %q, want %q", tt.text, tt.shift, got, tt.want)
		}
	}
}
