package record

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/ficus-migrate/ficus/shadow/diff"
)

// Redacted replaces every secret value.
const Redacted = "REDACTED"

// alwaysRedacted are the headers whose values are never written.
var alwaysRedacted = []string{"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie"}

// secretKey matches names of JSON keys, query parameters and form fields
// whose values are treated as secrets.
var secretKey = regexp.MustCompile(`(?i)pass(word|wd)?|token|secret|api[_-]?key|credential|private[_-]?key|session|auth`)

// textSecrets finds "key": "value" pairs and key=value pairs with secret
// keys in bodies that cannot be parsed (not JSON, or cut at the cap). A
// value cut by the cap has no closing quote, hence the ("|$).
var textSecrets = regexp.MustCompile(`(?i)("[^"]*(?:pass(?:word|wd)?|token|secret|api[_-]?key|credential|private[_-]?key|session|auth)[^"]*"\s*:\s*)("(?:[^"\\]|\\.)*(?:"|$)|[^,}\]\s]+)` +
	`|((?:^|[&?\s])[^=&\s]*(?:pass(?:word|wd)?|token|secret|api[_-]?key|credential|session|auth)[^=&\s]*=)([^&\s]*)`)

// Redactor removes secrets from what is recorded.
type Redactor struct {
	headers map[string]bool // canonical names
	cap     int
}

// NewRedactor redacts the always-redacted headers plus extra, and caps
// bodies at bodyCap bytes.
func NewRedactor(extra []string, bodyCap int) *Redactor {
	r := &Redactor{headers: map[string]bool{}, cap: bodyCap}
	for _, h := range append(append([]string(nil), alwaysRedacted...), extra...) {
		r.headers[http.CanonicalHeaderKey(h)] = true
	}
	return r
}

// Header returns a copy of h with secret header values replaced.
func (r *Redactor) Header(h http.Header) http.Header {
	if h == nil {
		return nil
	}
	out := make(http.Header, len(h))
	for k, vs := range h {
		if r.secretHeader(k) {
			red := make([]string, len(vs))
			for i := range red {
				red[i] = Redacted
			}
			out[k] = red
			continue
		}
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func (r *Redactor) secretHeader(name string) bool {
	return r.headers[http.CanonicalHeaderKey(name)]
}

// PathQuery redacts the values of secret-looking query parameters.
func (r *Redactor) PathQuery(path, rawQuery string) string {
	if rawQuery == "" {
		return path
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		// An unparsable query may still hold a secret: keep only the path.
		return path + "?" + Redacted
	}
	for k, vs := range q {
		if secretKey.MatchString(k) {
			for i := range vs {
				vs[i] = Redacted
			}
		}
	}
	return path + "?" + q.Encode()
}

// Body redacts secrets in a body and caps it. JSON bodies have the values
// of secret-looking keys replaced structurally; other (or cut) bodies are
// scanned for "key": value and key=value pairs. Non-UTF-8 bodies are not
// stored at all, as their content cannot be checked.
func (r *Redactor) Body(b []byte) (string, bool) {
	if len(b) == 0 {
		return "", false
	}
	if !utf8.Valid(trimPartialRune(b)) {
		return "(binary body not recorded)", true
	}
	out := b
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err == nil && !dec.More() {
		if red, err := json.Marshal(redactJSON(v)); err == nil {
			out = red
		}
	} else {
		out = textSecrets.ReplaceAll(b, []byte(`${1}${3}"`+Redacted+`"`))
		// Form pairs get the bare word, not a quoted one.
		out = bytes.ReplaceAll(out, []byte(`="`+Redacted+`"`), []byte("="+Redacted))
	}
	if len(out) <= r.cap {
		return string(out), false
	}
	return string(trimPartialRune(out[:r.cap])), true
}

func trimPartialRune(b []byte) []byte {
	for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
		if utf8.Valid(b) {
			return b
		}
		b = b[:len(b)-1]
	}
	return b
}

func redactJSON(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if secretKey.MatchString(k) {
				t[k] = Redacted
			} else {
				t[k] = redactJSON(e)
			}
		}
	case []any:
		for i, e := range t {
			t[i] = redactJSON(e)
		}
	}
	return v
}

// Diffs redacts the values of diffs on secret headers or secret-looking
// JSON keys, and secret keys nested inside differing values.
func (r *Redactor) Diffs(ds []diff.Diff) []diff.Diff {
	if len(ds) == 0 {
		return nil
	}
	out := make([]diff.Diff, len(ds))
	for i, d := range ds {
		if r.secretPath(d.Path) {
			d.Legacy, d.New = redactRaw(d.Legacy, true), redactRaw(d.New, true)
		} else {
			d.Legacy, d.New = redactRaw(d.Legacy, false), redactRaw(d.New, false)
		}
		out[i] = d
	}
	return out
}

func (r *Redactor) secretPath(p string) bool {
	if name, ok := strings.CutPrefix(p, "header:"); ok {
		return r.secretHeader(name)
	}
	if strings.HasPrefix(p, "$") {
		return secretKey.MatchString(p)
	}
	return false
}

var redactedRaw = json.RawMessage(`"` + Redacted + `"`)

func redactRaw(m json.RawMessage, all bool) json.RawMessage {
	if len(m) == 0 {
		return m
	}
	if all {
		return redactedRaw
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(m))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return redactedRaw
	}
	b, err := json.Marshal(redactJSON(v))
	if err != nil {
		return redactedRaw
	}
	return b
}

// Mismatch returns m with every secret redacted and bodies capped.
func (r *Redactor) Mismatch(m Mismatch) Mismatch {
	p, q, _ := strings.Cut(m.Path, "?")
	m.Path = r.PathQuery(p, q)
	m.RequestHeader = r.Header(m.RequestHeader)
	m.Legacy.Header = r.Header(m.Legacy.Header)
	m.New.Header = r.Header(m.New.Header)
	m.Diffs = r.Diffs(m.Diffs)
	m.Noise = r.Diffs(m.Noise)
	return m
}
