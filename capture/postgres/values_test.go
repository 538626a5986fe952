package postgres

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMoneyValue(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"$0.00", "0.00"},
		{"$12.34", "12.34"},
		{"-$1,234,567.80", "-1234567.80"},
		{"$92,233,720,368,547,758.07", "92233720368547758.07"},
		{"-$92,233,720,368,547,758.08", "-92233720368547758.08"},
		{"$5", "5"},
	} {
		got, err := moneyValue(c.in)
		if err != nil || got != c.want {
			t.Errorf("moneyValue(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	// Other locales' forms are refused, not guessed (ficus sets lc_monetary=C).
	for _, in := range []string{"", "$", "12.34", "12,34 €", "€12.34", "$,12.34", "$1.2.3", "$12.", "($12.34)", "$-12.34", "-$.5"} {
		if got, err := moneyValue(in); err == nil {
			t.Errorf("moneyValue(%q) = %q, want an error", in, got)
		}
	}
}

func TestHstoreValue(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{``, `{}`},
		{`"a"=>"1"`, `{"a":"1"}`},
		{`"a"=>"1", "b"=>NULL`, `{"a":"1","b":null}`},
		{`"b"=>"NULL"`, `{"b":"NULL"}`},
		{`"q\"x"=>"back\\slash", "é"=>"<&>"`, `{"q\"x":"back\\slash","é":"\u003c\u0026\u003e"}`},
		{` a => 1 ,b=>x\"y `, `{"a":"1","b":"x\"y"}`},
		{`""=>""`, `{"":""}`},
	} {
		got, err := hstoreValue(c.in)
		if err != nil || string(got) != c.want {
			t.Errorf("hstoreValue(%q) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{`"a"`, `"a"=>`, `"a"=`, `"a"=>"1" "b"=>"2"`, `"a"=>"1",`, `NULL=>"1"`, `"a=>"1"`, `"a"=>"1\`, `a\`} {
		if got, err := hstoreValue(in); err == nil {
			t.Errorf("hstoreValue(%q) = %s, want an error", in, got)
		}
	}
}

// FuzzHstoreValue: any input gives an error or a JSON object of strings and
// nulls; an object's own hstore text (as PostgreSQL prints it) reads back to
// the same object.
func FuzzHstoreValue(f *testing.F) {
	for _, s := range []string{``, `"a"=>"1", "b"=>NULL`, `"q\"x"=>"\\"`, ` a => 1 `, `"é"=>"😀"`, `"a"=>"1",`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		raw, err := hstoreValue(s)
		if err != nil {
			return
		}
		// Pairs in order (duplicates kept: PostgreSQL never prints them,
		// but the parser must not merge or reorder).
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			t.Fatalf("hstoreValue(%q) = %s: not an object", s, raw)
		}
		if !utf8.ValidString(s) {
			return // invalid UTF-8 is replaced in JSON, so no round trip
		}
		quote := func(v string) string {
			return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
		}
		var b strings.Builder
		for i := 0; dec.More(); i++ {
			k, err := dec.Token()
			if err != nil {
				t.Fatalf("hstoreValue(%q) = %s: %v", s, raw, err)
			}
			v, err := dec.Token()
			if err != nil {
				t.Fatalf("hstoreValue(%q) = %s: %v", s, raw, err)
			}
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(quote(k.(string)) + "=>")
			switch v := v.(type) {
			case nil:
				b.WriteString("NULL")
			case string:
				b.WriteString(quote(v))
			default:
				t.Fatalf("hstoreValue(%q) = %s: value %v is not a string or null", s, raw, v)
			}
		}
		again, err := hstoreValue(b.String())
		if err != nil || string(again) != string(raw) {
			t.Fatalf("round trip of %q via %q: %s, %v; want %s", s, b.String(), again, err, raw)
		}
	})
}

func TestTimestampText(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"2024-01-02 03:04:05":        "2024-01-02T03:04:05",
		"2024-01-02 03:04:05.000001": "2024-01-02T03:04:05.000001",
		"12345-01-02 03:04:05":       "12345-01-02 03:04:05", // year > 9999: as printed
		"0044-03-15 12:00:00 BC":     "0044-03-15 12:00:00 BC",
		"infinity":                   "infinity",
		"2024-01-02 03:04:05.5 BC":   "2024-01-02 03:04:05.5 BC",
		"2024-01-02T03:04:05":        "2024-01-02T03:04:05",
	} {
		if got := timestamp([]byte(in)); got != want {
			t.Errorf("timestamp(%q) = %q, want %q", in, got, want)
		}
	}
}
