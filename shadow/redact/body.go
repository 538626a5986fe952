package redact

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Placeholders of bodies that are not written down at all.
const (
	BinaryBody    = "(binary body not recorded)"
	MultipartBody = "(multipart body not recorded: it cannot be parsed)"
)

// Body returns b with its secrets hashed, by content type: urlencoded form
// fields and multipart fields by name, JSON (whatever the content type says)
// by key at any depth, and anything else — or what a cap cut — by scanning
// for "key": value, key=value and key: value pairs. ok is false when the
// body is replaced by a placeholder: non-UTF-8 bodies cannot be checked,
// and a multipart body that cannot be parsed cannot be split into fields.
func (x *Exchange) Body(contentType string, b []byte) (s string, ok bool) {
	if len(b) == 0 {
		return "", true
	}
	if !utf8.Valid(trimPartialRune(b)) {
		return BinaryBody, false
	}
	mt, params, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "application/x-www-form-urlencoded":
		return x.Query(string(b)), true
	case strings.HasPrefix(mt, "multipart/"):
		out, err := x.multipart(b, params["boundary"])
		if err != nil {
			return MultipartBody, false
		}
		return out, true
	}
	return x.plain(b), true
}

// plain redacts a body that is not a form: JSON structurally, else as text.
// JSON is redacted over its bytes (stream.go) unless that cannot be sure
// to match the decoded tree.
func (x *Exchange) plain(b []byte) string {
	out, res := x.streamJSON(b)
	switch res {
	case streamDone:
		return out
	case streamInvalid:
		return x.text(string(b))
	}
	return x.plainTree(b)
}

// plainTree redacts a body by its decoded tree: the reference the
// streaming path is tested against, and its fallback.
func (x *Exchange) plainTree(b []byte) string {
	v, ok := decodeJSON(b)
	if !ok {
		return x.text(string(b))
	}
	before := x.changes
	v = x.jsonValue(v)
	if x.changes == before {
		return string(b)
	}
	return encodeJSON(v)
}

func (x *Exchange) multipart(b []byte, boundary string) (string, error) {
	if boundary == "" {
		return "", errors.New("multipart body without a boundary")
	}
	mr := multipart.NewReader(bytes.NewReader(b), boundary)
	var out bytes.Buffer
	mw := multipart.NewWriter(&out)
	if err := mw.SetBoundary(boundary); err != nil {
		return "", err
	}
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
		content, err := io.ReadAll(p)
		if err != nil {
			return "", err
		}
		val := string(content)
		if name := p.FormName(); name != "" && x.r.SecretParam(name) {
			val = x.mark(val)
		} else {
			val = x.plain(content)
		}
		w, err := mw.CreatePart(p.Header)
		if err != nil {
			return "", err
		}
		if _, err := io.WriteString(w, val); err != nil {
			return "", err
		}
	}
	if err := mw.Close(); err != nil {
		return "", err
	}
	return out.String(), nil
}

// FinishBody is the second pass over a body Body returned: remembered
// secrets are replaced in JSON structurally (string values and keys by
// Text, numbers that equal a secret), elsewhere as text.
func (x *Exchange) FinishBody(s string) string {
	if len(x.secrets) == 0 || s == "" {
		return s
	}
	// Without a backslash every JSON string and number is spelled in s as
	// it decodes, so when no spelling of a remembered secret (those Text
	// replaces) and no cut mark is in s, the structural pass below would
	// change nothing: s is returned without decoding it.
	if !strings.ContainsRune(s, '\\') && !strings.Contains(s, truncMark) && !x.echoIn(s) {
		return s
	}
	return x.finishBodyDecoded(s)
}

// finishBodyDecoded is FinishBody's structural pass.
func (x *Exchange) finishBodyDecoded(s string) string {
	v, ok := decodeJSON([]byte(s))
	if !ok {
		return x.Text(s)
	}
	before := x.changes
	v = x.echoes(v, false)
	if x.changes == before {
		return s
	}
	return encodeJSON(v)
}

// jsonValue hashes the values of secret keys in v at any depth and scans
// the other strings as text (a URL with ?code=…).
func (x *Exchange) jsonValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if x.r.SecretJSONKey(k) && e != nil {
				t[k] = x.secretJSON(e)
			} else {
				t[k] = x.jsonValue(e)
			}
		}
	case []any:
		for i, e := range t {
			t[i] = x.jsonValue(e)
		}
	case string:
		return x.text(t)
	}
	return v
}

// secretJSON hashes a secret JSON value: a string or number by its text,
// anything else by its JSON encoding (after remembering the strings and
// numbers inside it).
func (x *Exchange) secretJSON(v any) string {
	switch t := v.(type) {
	case string:
		return x.mark(t)
	case json.Number:
		return x.mark(t.String())
	}
	x.rememberLeaves(v)
	return x.mark(encodeJSON(v))
}

func (x *Exchange) rememberLeaves(v any) {
	switch t := v.(type) {
	case map[string]any:
		for _, e := range t {
			x.rememberLeaves(e)
		}
	case []any:
		for _, e := range t {
			x.rememberLeaves(e)
		}
	case string:
		x.remember(t)
	case json.Number:
		x.remember(t.String())
	}
}

// echoes replaces remembered secrets in the keys and values of v. exact
// also hashes a value that is exactly a secret however short, for diff
// values: a diff "$.qty": 123 when the CVV was 123 had better be unreadable.
func (x *Exchange) echoes(v any, exact bool) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[x.Text(k)] = x.echoes(e, exact)
		}
		return out
	case []any:
		for i, e := range t {
			t[i] = x.echoes(e, exact)
		}
	case string:
		if exact && x.exactly(t) {
			x.changes++
			return x.r.Mark(strings.TrimSpace(t))
		}
		return x.Text(t)
	case json.Number:
		if (exact || len(t) >= minEcho) && x.exactly(t.String()) {
			x.changes++
			return x.r.Mark(t.String())
		}
	}
	return v
}

func decodeJSON(b []byte) (any, bool) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return v, true
}

// encodeJSON encodes v compactly without HTML escaping; on failure (it
// cannot fail on decoded JSON) it returns Plain rather than fallback text
// that may hold what was to be redacted.
func encodeJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return strconv.Quote(Plain)
	}
	return strings.TrimSuffix(b.String(), "\n")
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
