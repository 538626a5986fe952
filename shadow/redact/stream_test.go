package redact

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// streamCases are JSON (and not quite JSON) bodies for the differential
// test: both paths must redact them alike.
var streamCases = []string{
	`{"a":{"b":[{"pwd":"p1","n":1}]},"pin":1234,"otp":null}`,
	`{ "b": 1, "a": "<x>" }`,
	`{"secret":{"k":"v","n":[1,2.5e3,true,null,"s3cret-in"]}}`,
	`{"token":["tok-1","tok-2",{"x":"tok-3"}]}`,
	`{"next":"/cb?code=abc","t":"2024-01-01T10:00:00Z"}`,
	`{"n":"x","token":"abcdef`,
	`{"pwd":"p0","pwd":"p1","b":1}`,
	`{"a":1,"a":2}`,
	`{"p\u0077d":"escaped-key-secret"}`,
	`{"pwd":"esc\"aped\\sec\u0072et\/x"}`,
	`{"q":"a=b\u0026password=hunter2"}`,
	`{"q":"password\u003dhunter2"}`,
	`{"h":"Authorization: Bearer abc123","log":"pin:1234 ok","t":"10:00"}`,
	`{"q":"token\u003a colon-escaped"}`,
	`{"q":"x\ud800y password=lone"}`,
	`{"pin":-0.5e+10,"cvv":0,"key":true,"sig":false,"code":null}`,
	`"password=top-level"`,
	`"plain"`,
	`123`, `-1.5E-3`, `true`, `null`, `[]`, `{}`, ` [ ] `,
	"\t{\n\"pwd\" :\r\n \"spaced\" \n}\n",
	`[{"token":"t1"},{"token":"t1"},{"token":"t2"}]`,
	`{"x":"é ü 中 \u00e9","password":"pässwörd"}`,
	`{"password":"REDACTED"}`,
	`{"q":"password=REDACTED"}`,
	`{"auth":{"token":"inner"},"user":{"password":""}}`,
	`{"password":"  padded  "}`,
	`{"items":[{"sku":"SKU-1","qty":1}],"pad":"xxxx"}`,
	`{"user[password]":"br","card.pin":"cp","apiKey":"ak","X-Api-Key":"xk"}`,
	`{"html":"<script>&amp;</script>","u":"\u2028\u2029"}`,
	// Not JSON: the text path.
	``, ` `, `{`, `}`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{'a':1}`, `01`, `1.`, `.5`, `-`, `1e`, `+1`,
	`{"a":1}{"b":2}`, `{"a":1} x`, `tru`, `nul`, `{"a":"\x"}`, `{"a":"\u12"}`, "{\"a\":\"\x01\"}",
	`password=hunter2&x=1`, "token: abc\nb", `"pin": "x1x1`, `[1,2`, `{"password":"cut`,
	"\xef\xbb\xbf{\"pwd\":\"bom\"}", `NaN`, `Infinity`, `-0`, `[-01]`, `1.5e+`,
	strings.Repeat("[", 300) + `{"pwd":"deep"}` + strings.Repeat("]", 300),
	strings.Repeat(`{"a":`, 100) + `{"pwd":"d100"}` + strings.Repeat("}", 100),
}

// TestBodyDifferential: the streaming path redacts what the tree path does.
func TestBodyDifferential(t *testing.T) {
	r := newRedactor(t, Rules{})
	cases := append([]string{}, streamCases...)
	cases = append(cases, string(benchAnswer(false)), string(benchAnswer(true)), bigObject(40, false), bigObject(40, true))
	for _, body := range cases {
		differential(t, r, body)
	}
}

func bigObject(n int, dup bool) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"k` + strings.Repeat("x", i) + `":"v"`)
	}
	if dup {
		b.WriteString(`,"kxxx":"pwd=dupvalue"`)
	}
	b.WriteString(`,"password":"big-object-secret"}`)
	return b.String()
}

// FuzzBodyDifferential: whatever the body, the streaming path redacts what
// the tree path does.
func FuzzBodyDifferential(f *testing.F) {
	for _, c := range streamCases {
		f.Add(c)
	}
	f.Add(string(benchAnswer(true)))
	r, err := New(Config{Key: []byte("fuzz-key-0123456789")})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		differential(t, r, body)
	})
}

// differential redacts body both ways, as Body and then FinishBody (after
// a header that remembers a secret), and compares: the outputs decode to
// the same value (or are the same text), the same secrets are remembered
// and as many replacements made, and no secret's text is left by the new
// path where the old one removed it.
func differential(t *testing.T, r *Redactor, body string) {
	t.Helper()
	run := func(plain func(*Exchange, []byte) string) (*Exchange, string, string) {
		x := r.Exchange()
		x.Header(http.Header{"Cookie": {"sid=s3cret-in; theme=dark"}})
		out := plain(x, []byte(body))
		fin := x.FinishBody(out)
		return x, out, fin
	}
	x1, out1, fin1 := run((*Exchange).plainTree)
	x2, out2, fin2 := run((*Exchange).plain)
	sameJSON(t, body, "Body", out1, out2)
	sameJSON(t, body, "FinishBody", fin1, fin2)
	if !reflect.DeepEqual(x1.secrets, x2.secrets) {
		t.Errorf("body %q: remembered\n %q\nwant\n %q", body, keys(x2.secrets), keys(x1.secrets))
	}
	if x1.changes != x2.changes {
		t.Errorf("body %q: %d changes, want %d", body, x2.changes, x1.changes)
	}
	for v := range x1.secrets {
		if len(v) >= minEcho && !strings.Contains(fin1, v) && strings.Contains(fin2, v) {
			t.Errorf("body %q: secret %q survives in %q (tree path: %q)", body, v, fin2, fin1)
		}
	}
}

func sameJSON(t *testing.T, body, what, want, got string) {
	t.Helper()
	if got == want {
		return
	}
	v1, ok1 := decodeJSON([]byte(want))
	v2, ok2 := decodeJSON([]byte(got))
	if !ok1 || !ok2 || !reflect.DeepEqual(v1, v2) {
		t.Errorf("body %q: %s =\n %q\nwant (as JSON)\n %q", body, what, got, want)
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// FuzzMatchName: the allocation-free match of a name is the plain one.
func FuzzMatchName(f *testing.F) {
	for _, s := range []string{"Authorization", "X-Api-Key", "user_PASSWORD", "spinner", "Pin", "", "-_", "ÄPIKEY", "kéy",
		strings.Repeat("a", 70) + "token"} {
		f.Add(s)
	}
	m, err := compile(Builtin, []string{"*shard*", "iban"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if got, want := m.matchName(name), m.matchOne(normalize(name)); got != want {
			t.Errorf("matchName(%q) = %v, matchOne(normalize) = %v", name, got, want)
		}
	})
}
