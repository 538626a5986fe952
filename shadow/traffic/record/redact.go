package record

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/ficus-migrate/ficus/shadow/redact"
)

// Hashed is Mismatch.Redaction for records whose secrets are hashed by
// shadow/redact with the installation's key.
const Hashed = "hmac-sha256"

// build redacts one exchange with red (see redact.Exchange for the two
// passes) and caps its bodies at bodyCap bytes (0: no cap). Bodies are
// capped last, so that a secret echoed where the cap falls is still
// replaced whole.
func build(red *redact.Redactor, in Input, bodyCap int) Mismatch {
	x := red.Exchange()
	m := in.Mismatch
	// Content types are read before the headers are redacted: a rule may
	// name Content-Type, the bodies must still be parsed by it.
	reqCT := m.RequestHeader.Get("Content-Type")
	legacyCT, newCT := m.Legacy.Header.Get("Content-Type"), m.New.Header.Get("Content-Type")

	m.RequestHeader = x.Header(m.RequestHeader)
	m.Legacy.Header = x.Header(m.Legacy.Header)
	m.New.Header = x.Header(m.New.Header)
	path, query, hasQuery := strings.Cut(m.Path, "?")
	query = x.Query(query)
	reqBody, _ := x.Body(reqCT, in.RequestBody)
	legacyBody, legacyOK := x.Body(legacyCT, in.LegacyBody)
	newBody, newOK := x.Body(newCT, in.NewBody)

	m.Path = x.Text(path)
	if hasQuery {
		m.Path += "?" + x.Text(query)
	}
	finishHeader(x, m.RequestHeader)
	finishHeader(x, m.Legacy.Header)
	finishHeader(x, m.New.Header)
	var cut bool
	m.RequestBody, _ = capBody(x.FinishBody(reqBody), bodyCap)
	m.Legacy.Body, cut = capBody(x.FinishBody(legacyBody), bodyCap)
	m.Legacy.BodyTruncated = m.Legacy.BodyTruncated || cut || !legacyOK
	m.New.Body, cut = capBody(x.FinishBody(newBody), bodyCap)
	m.New.BodyTruncated = m.New.BodyTruncated || cut || !newOK
	m.Diffs = x.Diffs(m.Diffs)
	m.Noise = x.Diffs(m.Noise)
	m.Signature = x.Text(m.Signature)
	m.Redaction = Hashed
	return m
}

func finishHeader(x *redact.Exchange, h http.Header) {
	for _, vs := range h {
		for i, v := range vs {
			vs[i] = x.Text(v)
		}
	}
}

func capBody(s string, n int) (string, bool) {
	if n <= 0 || len(s) <= n {
		return s, false
	}
	s = s[:n]
	for i := 0; i < utf8.UTFMax && !utf8.ValidString(s); i++ {
		s = s[:len(s)-1] // a rune the cap split
	}
	return s, true
}

// plainRedactor re-checks records written without hashing: the built-in
// rules, no key (every secret becomes redact.Plain).
var plainRedactor, _ = redact.New(redact.Config{})

// Recheck returns m as `ficus report` and the dashboard may show it. Records
// whose secrets ficus hashed (Redaction set) are returned as they are; a
// record of an older ficus, which redacted fewer names and no diff values,
// is redacted again with the built-in rules, secrets written as REDACTED.
func Recheck(m Mismatch) Mismatch {
	if m.Redaction != "" {
		return m
	}
	in := Input{Mismatch: m, RequestBody: []byte(m.RequestBody), LegacyBody: []byte(m.Legacy.Body), NewBody: []byte(m.New.Body)}
	out := build(plainRedactor, in, 0)
	out.Redaction = ""
	return out
}
