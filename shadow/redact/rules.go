// Package redact is the one place that decides what is secret in a shadowed
// exchange and how a secret is written down: the rule set (header names,
// query and form parameter names, JSON keys) and the keyed hash that
// replaces a secret value. Everything ficus records, reports or logs about
// mirrored requests and answers goes through it.
package redact

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Builtin is the rule set every Redactor applies, to header names, query
// and form parameter names and JSON keys alike: a secret under one name in
// a header is just as secret in a query or a JSON body, and hashing keeps
// the over-redacted values comparable. Rules.* only add to it.
//
// An entry written "*part*" matches every name that contains part; any
// other entry matches the whole name. Names and entries are compared
// lower-cased and with '-' and '_' removed (so "*apikey*" matches X-Api-Key,
// api_key and apiKey), and a name also matches when one of its parts
// between '[', ']' and '.' does (user[password], card.pin).
var Builtin = []string{
	"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key",
	"*token*", "*secret*", "*password*", "*passwd*", "*credential*", "*session*", "*auth*",
	"*apikey*", "*privatekey*", "*accesskey*",
	"passwd", "pwd", "pass", "pin", "otp", "cvv", "cvc", "ssn", "key", "sig", "signature", "code",
}

// Rules are the entries a configuration adds to Builtin, per kind of name;
// the syntax is Builtin's.
type Rules struct {
	Headers  []string
	Params   []string
	JSONKeys []string
}

// CheckEntry reports what is wrong with a rule entry, or nil.
func CheckEntry(e string) error {
	_, err := parseEntry(e)
	return err
}

var errEntrySyntax = errors.New("expected NAME (the whole name) or *PART* (names containing PART)")

type entry struct {
	text      string // normalized
	substring bool
}

func parseEntry(e string) (entry, error) {
	inner, sub := strings.CutPrefix(e, "*")
	if sub {
		var ok bool
		if inner, ok = strings.CutSuffix(inner, "*"); !ok {
			return entry{}, errEntrySyntax
		}
	}
	if strings.Contains(inner, "*") {
		return entry{}, errEntrySyntax
	}
	for _, c := range inner {
		if c < 0x20 || c == 0x7f {
			return entry{}, errors.New("must not contain control characters")
		}
	}
	n := normalize(inner)
	if n == "" {
		return entry{}, errors.New("must contain a character other than '-', '_' and '*'")
	}
	return entry{text: n, substring: sub}, nil
}

// normalize is how names and entries are compared: lower-cased, without
// the separators that spell the same name several ways.
func normalize(s string) string {
	clean := true
	for i := 0; i < len(s) && clean; i++ {
		c := s[i]
		clean = c != '-' && c != '_' && (c < 'A' || c > 'Z') && c < 0x80
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range strings.ToLower(s) {
		if r != '-' && r != '_' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// matcher is one compiled list of entries.
type matcher struct {
	exact  map[string]bool
	parts  []string
	partsB [][]byte // parts, for matchName
}

func compile(lists ...[]string) (matcher, error) {
	m := matcher{exact: map[string]bool{}}
	for _, l := range lists {
		for _, e := range l {
			en, err := parseEntry(e)
			if err != nil {
				return matcher{}, fmt.Errorf("redact entry %q: %w", e, err)
			}
			if en.substring {
				m.parts = append(m.parts, en.text)
				m.partsB = append(m.partsB, []byte(en.text))
			} else {
				m.exact[en.text] = true
			}
		}
	}
	return m, nil
}

// match reports whether name is secret under m.
func (m matcher) match(name string) bool {
	if m.matchName(name) {
		return true
	}
	if !strings.ContainsAny(name, "[].") {
		return false
	}
	for _, p := range strings.FieldsFunc(name, func(r rune) bool { return r == '[' || r == ']' || r == '.' }) {
		if m.matchName(p) {
			return true
		}
	}
	return false
}

func (m matcher) matchOne(n string) bool {
	if n == "" {
		return false
	}
	if m.exact[n] {
		return true
	}
	for _, p := range m.parts {
		if strings.Contains(n, p) {
			return true
		}
	}
	return false
}

// matchName is matchOne(normalize(name)), without allocating for the
// usual names (ASCII, up to 64 bytes): it runs for every header, JSON key
// and parameter of every recorded exchange.
func (m matcher) matchName(name string) bool {
	var buf [64]byte
	if len(name) > len(buf) {
		return m.matchOne(normalize(name))
	}
	n := buf[:0]
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c >= 0x80:
			return m.matchOne(normalize(name)) // Unicode lower-casing
		case c == '-', c == '_':
		case c >= 'A' && c <= 'Z':
			n = append(n, c+'a'-'A')
		default:
			n = append(n, c)
		}
	}
	if len(n) == 0 {
		return false
	}
	if m.exact[string(n)] {
		return true
	}
	for _, p := range m.partsB {
		if bytes.Contains(n, p) {
			return true
		}
	}
	return false
}
