package redact

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ficus-migrate/ficus/shadow/traffic/diff"
)

func newRedactor(t *testing.T, rules Rules) *Redactor {
	t.Helper()
	r, err := New(Config{Rules: rules, Key: []byte("test-key-0123456789")})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMatching(t *testing.T) {
	r := newRedactor(t, Rules{Headers: []string{"X-Tenant"}, Params: []string{"*shard*"}, JSONKeys: []string{"iban"}})
	tests := []struct {
		kind   string
		name   string
		secret bool
	}{
		{"header", "Authorization", true},
		{"header", "X-Api-Key", true},
		{"header", "X-Auth-Token", true},
		{"header", "X-CSRF-Token", true},
		{"header", "set-cookie", true},
		{"header", "X-Tenant", true}, // added
		{"header", "Content-Type", false},
		{"header", "X-Trace", false},
		{"param", "key", true},
		{"param", "KEY", true},
		{"param", "sig", true},
		{"param", "code", true},
		{"param", "access_token", true},
		{"param", "user[password]", true}, // a part between brackets
		{"param", "card.pin", true},
		{"param", "apiKey", true},      // separators and case ignored
		{"param", "my_shard_id", true}, // added substring
		{"param", "keyboard", false},   // "key" is a whole name
		{"param", "zipcode", false},
		{"param", "X-Tenant", false}, // added to headers only
		{"json", "pwd", true},
		{"json", "Pin", true},
		{"json", "otp", true},
		{"json", "cvv", true},
		{"json", "ssn", true},
		{"json", "client_secret", true},
		{"json", "iban", true},
		{"json", "price", false},
		{"json", "spinner", false}, // pin is a whole name
	}
	for _, tt := range tests {
		got := map[string]func(string) bool{"header": r.SecretHeader, "param": r.SecretParam, "json": r.SecretJSONKey}[tt.kind](tt.name)
		if got != tt.secret {
			t.Errorf("%s %q secret = %v, want %v", tt.kind, tt.name, got, tt.secret)
		}
	}
}

func TestCheckEntry(t *testing.T) {
	for _, tt := range []struct {
		entry string
		ok    bool
	}{
		{"x-tenant", true}, {"*shard*", true}, {"*", false}, {"**", false}, {"*a", false},
		{"a*", false}, {"a*b", false}, {"-_", false}, {"a\tb", false},
	} {
		if err := CheckEntry(tt.entry); (err == nil) != tt.ok {
			t.Errorf("CheckEntry(%q) = %v, want ok %v", tt.entry, err, tt.ok)
		}
	}
	if _, err := New(Config{Rules: Rules{Params: []string{"*a"}}}); err == nil || !strings.Contains(err.Error(), `params: redact entry "*a"`) {
		t.Errorf("New with a bad entry: %v", err)
	}
}

func TestMark(t *testing.T) {
	r := newRedactor(t, Rules{})
	a, b := r.Mark("hunter2"), r.Mark("hunter3")
	if !strings.HasPrefix(a, Prefix) || len(a) != len(Prefix)+16 {
		t.Errorf("Mark = %q, want %s and 16 hex digits", a, Prefix)
	}
	if a != r.Mark("hunter2") || a == b {
		t.Errorf("equal secrets must hash equal and different ones differ: %q %q", a, b)
	}
	other, _ := New(Config{Key: []byte("another-key-0123456")})
	if other.Mark("hunter2") == a {
		t.Error("the hash does not depend on the key")
	}
	plain, _ := New(Config{})
	if plain.Mark("hunter2") != Plain {
		t.Error("without a key a secret must be written as REDACTED")
	}
}

func TestHeaderAndQuery(t *testing.T) {
	r := newRedactor(t, Rules{})
	x := r.Exchange()
	h := x.Header(http.Header{
		"Authorization": {"Bearer s3cret-auth"}, "Cookie": {"sid=s3cret-cookie; theme=dark"},
		"X-Csrf-Token": {"s3cret-csrf"}, "Location": {"https://app/cb?code=s3cret-code&state=1"}, "Accept": {"*/*"},
	})
	q := x.Query("id=7&key=s3cret-key&sig=s3cret%2Dsig&plain")
	if h.Get("Accept") != "*/*" || h.Get("Authorization") != r.Mark("Bearer s3cret-auth") {
		t.Errorf("headers %v", h)
	}
	if want := "https://app/cb?code=" + r.Mark("s3cret-code") + "&state=1"; h.Get("Location") != want {
		t.Errorf("Location = %q, want %q", h.Get("Location"), want)
	}
	if want := "id=7&key=" + r.Mark("s3cret-key") + "&sig=" + r.Mark("s3cret-sig") + "&plain"; q != want {
		t.Errorf("query = %q, want %q", q, want)
	}
	x.Header(http.Header{"Set-Cookie": {"sc=s3cret-sc; Path=/api; Expires=Wed, 21 Oct 2026 07:28:00 GMT"}})
	// The credential and the cookie values are remembered for the second
	// pass, the cookie attributes are not.
	if got := x.Text("echo s3cret-auth, s3cret-cookie, s3cret-sc"); strings.Contains(got, "s3cret") {
		t.Errorf("Text kept a secret: %q", got)
	}
	if got := x.Text("/api on Wed, 21 Oct 2026 07:28:00 GMT"); got != "/api on Wed, 21 Oct 2026 07:28:00 GMT" {
		t.Errorf("Text took a cookie attribute for a secret: %q", got)
	}
}

func TestBody(t *testing.T) {
	r := newRedactor(t, Rules{})
	m := r.Mark
	const boundary = "XyZ"
	multipartBody := "--XyZ\r\nContent-Disposition: form-data; name=\"user\"\r\n\r\nbob\r\n" +
		"--XyZ\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\nhunter2\r\n--XyZ--\r\n"
	tests := []struct {
		name, ct, in, want string
		ok                 bool
	}{
		{"json nested", "application/json", `{"a":{"b":[{"pwd":"p1","n":1}]},"pin":1234,"otp":null}`,
			`{"a":{"b":[{"pwd":"` + m("p1") + `","n":1}]},"pin":"` + m("1234") + `","otp":null}`, true},
		{"json keeps its order and spacing", "application/json", `{ "z": "a\u0062", "pwd": "p1" }`,
			`{ "z": "a\u0062", "pwd": "` + m("p1") + `" }`, true},
		{"json with a duplicate key decoded", "application/json", `{"pwd":"p0","pwd":"p1","b":1}`,
			`{"b":1,"pwd":"` + m("p1") + `"}`, true},
		{"json without secrets kept as sent", "application/json", `{ "b": 1, "a": "<x>" }`, `{ "b": 1, "a": "<x>" }`, true},
		{"json secret object", "", `{"secret":{"k":"v"}}`, `{"secret":"` + m(`{"k":"v"}`) + `"}`, true},
		{"json string holding a url", "application/json", `{"next":"/cb?code=abc"}`, `{"next":"/cb?code=` + m("abc") + `"}`, true},
		{"form", "application/x-www-form-urlencoded", "user=bob&password=hunter+2&x=1", "user=bob&password=" + m("hunter 2") + "&x=1", true},
		{"multipart", "multipart/form-data; boundary=" + boundary, multipartBody,
			strings.Replace(multipartBody, "hunter2", m("hunter2"), 1), true},
		{"multipart unparsable", "multipart/form-data; boundary=" + boundary, "--XyZ\r\nno end", MultipartBody, false},
		{"text pairs", "text/plain", "login password=hunter2 ok\nToken: abc def\n\"cvv\": 123,",
			"login password=" + m("hunter2") + " ok\nToken: " + m("abc def") + "\n\"cvv\": \"" + m("123") + "\",", true},
		{"json cut by a cap", "application/json", `{"n":"x","token":"abcdef`, `{"n":"x","token":"` + m("abcdef") + `"`, true},
		{"binary", "application/octet-stream", "\xff\xfe\x00s3cret", BinaryBody, false},
		{"empty", "application/json", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := r.Exchange().Body(tt.ct, []byte(tt.in))
			if got != tt.want || ok != tt.ok {
				t.Errorf("Body =\n %q, %v\nwant\n %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestFinishBody(t *testing.T) {
	r := newRedactor(t, Rules{})
	x := r.Exchange()
	x.Query("token=s3cret-echo&pin=12&sig=" + url.QueryEscape(`s3 "q"/1`))
	m1, m2 := r.Mark("s3cret-echo"), r.Mark(`s3 "q"/1`)
	for _, tt := range []struct{ in, want string }{
		// JSON: values and keys; a number that is a short secret is left.
		{`{"echo":"s3cret-echo","n":12,"s3cret-echo":1}`, `{"` + m1 + `":1,"echo":"` + m1 + `","n":12}`},
		{`{"q":"s3 \"q\"/1"}`, `{"q":"` + m2 + `"}`},
		// Text: the secret as is and in its escaped spellings.
		{`said s3cret-echo.`, `said ` + m1 + `.`},
		{`said "s3 \"q\"/1"`, `said "` + m2 + `"`},
		{`a=s3+%22q%22%2F1&b=s3%20%22q%22%2F1`, `a=` + m2 + `&b=` + m2},
		{`nothing to see`, `nothing to see`},
	} {
		if got := x.FinishBody(tt.in); got != tt.want {
			t.Errorf("FinishBody(%q) =\n %q, want\n %q", tt.in, got, tt.want)
		}
	}
}

func TestDiffs(t *testing.T) {
	r := newRedactor(t, Rules{})
	m := r.Mark
	x := r.Exchange()
	x.Body("application/json", []byte(`{"cvv":"123","session_id":"s3cret-sess"}`))
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	q := func(s string) json.RawMessage { b, _ := json.Marshal(s); return b }
	long := strings.Repeat("t", 250)
	tests := []struct {
		name     string
		in       diff.Diff
		leg, new json.RawMessage
	}{
		{"secret key", diff.Diff{Path: "$.user.password", Kind: "value", Legacy: q("hunter2"), New: q("hunter3")},
			q(m("hunter2")), q(m("hunter3"))},
		{"secret header", diff.Diff{Path: "header:Set-Cookie", Kind: "value", Legacy: q("sid=a"), New: q("sid=b")},
			q(m("sid=a")), q(m("sid=b"))},
		{"secret number", diff.Diff{Path: "$.pin", Kind: "value", Legacy: raw("1234"), New: raw("1234.0")},
			q(m("1234")), q(m("1234.0"))},
		{"secret null kept", diff.Diff{Path: "$.otp", Kind: "missing", Legacy: raw("null")}, raw("null"), nil},
		{"text line", diff.Diff{Path: "body:line:2", Kind: "value", Legacy: q("password=hunter2"), New: q("password=hunter2x")},
			q("password=" + m("hunter2")), q("password=" + m("hunter2x"))},
		{"nested secret", diff.Diff{Path: "$.user", Kind: "missing", Legacy: raw(`{"name":"bob","token":"t0ken"}`)},
			raw(`{"name":"bob","token":"` + m("t0ken") + `"}`), nil},
		{"echo of a secret", diff.Diff{Path: "$.note", Kind: "value", Legacy: q("id s3cret-sess"), New: q("x")},
			q("id " + m("s3cret-sess")), q("x")},
		{"echo cut by the diff engine", diff.Diff{Path: "$.note", Kind: "value", Legacy: q("id s3cret-se" + diff.TruncMark), New: q("x")},
			q("id " + m("s3cret-sess") + diff.TruncMark), q("x")},
		{"exactly a short secret", diff.Diff{Path: "$.qty", Kind: "value", Legacy: raw("123"), New: raw("124")},
			q(m("123")), raw("124")},
		{"cut secret value", diff.Diff{Path: "$.token", Kind: "value", Legacy: q(long + diff.TruncMark), New: q("b")},
			q(m(long) + diff.TruncMark), q(m("b"))},
		{"digest keyed", diff.Diff{Path: "body", Kind: "hash", Legacy: raw(`{"size":4,"sha256":"ab"}`), New: raw(`{"size":4,"sha256":"cd"}`)},
			raw(`{"sha256":"` + m("ab") + `","size":4}`), raw(`{"sha256":"` + m("cd") + `","size":4}`)},
		{"plain values untouched", diff.Diff{Path: "$.price", Kind: "value", Legacy: raw("10"), New: raw("12")}, raw("10"), raw("12")},
		{"status untouched", diff.Diff{Path: "status", Kind: "value", Legacy: raw("200"), New: raw("500")}, raw("200"), raw("500")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := x.Diffs([]diff.Diff{tt.in})[0]
			if string(got.Legacy) != string(tt.leg) || string(got.New) != string(tt.new) {
				t.Errorf("got legacy %s new %s\nwant legacy %s new %s", got.Legacy, got.New, tt.leg, tt.new)
			}
		})
	}
	d := x.Diffs([]diff.Diff{{Path: `$.byToken["s3cret-sess"]`, Kind: "extra", New: raw("1")}})[0]
	if strings.Contains(d.Path, "s3cret") {
		t.Errorf("a secret stayed in a path: %s", d.Path)
	}
}

func TestError(t *testing.T) {
	_, err := http.Get("http://127.0.0.1:1/x?token=s3cret")
	if err == nil {
		t.Skip("something listens on port 1")
	}
	if msg := Error(err).Error(); strings.Contains(msg, "s3cret") || !strings.Contains(msg, "/x?REDACTED") {
		t.Errorf("Error() = %q", msg)
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nats")
	k1, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreateKey(dir)
	if err != nil || string(k1) != string(k2) || len(k1) != 32 {
		t.Fatalf("second load: %x, %v; want the first key %x", k2, err, k1)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, mode %v; want 0600", err, st.Mode())
	}
	if err := os.WriteFile(filepath.Join(dir, KeyFile), []byte("s3cret-not-hex"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(dir); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("a bad key file: %v; want an error that does not quote it", err)
	}
}

// FuzzExchange: whatever the bodies and diff values, redaction never panics
// and a secret value found by name is never written as it was.
func FuzzExchange(f *testing.F) {
	for _, seed := range []string{`{"a":{"pwd":"x1x1"}}`, "password=x1x1&a=b", "token: x1x1\nb", `"pin": "x1x1`, `a=b=c:"d`, "\xff"} {
		f.Add(seed, "application/json")
		f.Add(seed, "text/plain")
	}
	r, _ := New(Config{Key: []byte("fuzz-key-0123456789")})
	f.Fuzz(func(t *testing.T, body, ct string) {
		x := r.Exchange()
		out, _ := x.Body(ct, []byte(body))
		out = x.FinishBody(out)
		raw, _ := json.Marshal(body)
		x.Diffs([]diff.Diff{{Path: "body:line:1", Kind: "value", Legacy: raw, New: json.RawMessage(body)}})
		for v := range x.secrets {
			if len(v) >= minEcho && strings.Contains(out, v) && !strings.Contains(r.Mark(v), v) {
				t.Errorf("secret %q survives in %q", v, out)
			}
		}
	})
}

// TestFinishBodyShortcut: FinishBody returns a body in which no secret can
// hide without decoding it; whatever the body, that gives what the
// structural pass gives.
func TestFinishBodyShortcut(t *testing.T) {
	r, err := New(Config{Key: []byte("shortcut-key-0123456789")})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{
		`{"a":1,"b":[1,2,3],"c":"plain"}`,
		`{"echo":"s3cret-tok"}`,
		`{"echo":"x s3cret-tok y"}`,
		`{"s3cret-tok":1}`,
		`{"n":98765}`,
		`{"n":98765.0}`,
		`{"esc":"s3cret\u002dtok"}`,
		`{"url":"a%2Fs3cret-tok"}`,
		`{"pin":"123"}`,
		`{"cut":"abc s3cr` + truncMark + `"}`,
		`not json s3cret-tok`,
		`not json at all`,
		`[1, 2, "98765"]`,
	} {
		newX := func() *Exchange {
			x := r.Exchange()
			x.Header(http.Header{"Authorization": {"Bearer s3cret-tok"}, "Cookie": {"n=98765; pin=123"}})
			return x
		}
		got, want := newX().FinishBody(body), newX().finishBodyDecoded(body)
		if got != want {
			t.Errorf("FinishBody(%s) = %s, the structural pass gives %s", body, got, want)
		}
	}
}
