// Package subject maps database schema and table names to NATS subject
// tokens, reversibly, so that a change of any table — whatever its name — has
// a subject NATS accepts, and a consumer can recover the name from it.
//
// The mapping keeps ASCII letters, digits, '_' and '-' and writes every other
// byte as '%' and two upper-case hex digits: "Weird Table" becomes
// "Weird%20Table", "a.b" becomes "a%2Eb", "naïve" becomes "na%C3%AFve". '%'
// itself is encoded (as %25), which makes the mapping reversible; the empty
// name is the token "%" (an empty token is not a valid subject token).
// Names that are already plain identifiers (orders, order_items) are unchanged.
package subject

import (
	"errors"
	"fmt"
	"strings"
)

const hexDigits = "0123456789ABCDEF"

// keep reports whether b is written as itself.
func keep(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-'
}

// Token is the subject token of a schema or table name.
func Token(name string) string {
	if name == "" {
		return "%"
	}
	n := 0
	for i := 0; i < len(name); i++ {
		if !keep(name[i]) {
			n++
		}
	}
	if n == 0 {
		return name // the common case: no allocation
	}
	var b strings.Builder
	b.Grow(len(name) + 2*n)
	for i := 0; i < len(name); i++ {
		c := name[i]
		if keep(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xf])
	}
	return b.String()
}

// Decode returns the name whose Token is tok. Only the exact output of Token
// decodes: lower-case hex, a kept byte written as %XX, or any other byte
// written as itself is an error, so each name has one token.
func Decode(tok string) (string, error) {
	if tok == "%" {
		return "", nil
	}
	if tok == "" {
		return "", errors.New("empty subject token")
	}
	if !strings.Contains(tok, "%") {
		if i := strings.IndexFunc(tok, func(r rune) bool { return r > 0x7f || !keep(byte(r)) }); i >= 0 {
			return "", fmt.Errorf("subject token %q: byte %d must be percent-encoded", tok, i)
		}
		return tok, nil
	}
	out := make([]byte, 0, len(tok))
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c != '%' {
			if !keep(c) {
				return "", fmt.Errorf("subject token %q: byte %d must be percent-encoded", tok, i)
			}
			out = append(out, c)
			continue
		}
		if i+2 >= len(tok) {
			return "", fmt.Errorf("subject token %q: truncated %%XX at byte %d", tok, i)
		}
		hi, lo := unhex(tok[i+1]), unhex(tok[i+2])
		if hi < 0 || lo < 0 {
			return "", fmt.Errorf("subject token %q: %q at byte %d is not %%XX with upper-case hex digits", tok, tok[i:i+3], i)
		}
		v := byte(hi<<4 | lo)
		if keep(v) {
			return "", fmt.Errorf("subject token %q: %q at byte %d encodes %q, which is written as itself", tok, tok[i:i+3], i, v)
		}
		out = append(out, v)
		i += 2
	}
	return string(out), nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// ValidToken reports whether tok can be one token of a NATS subject that a
// publisher may use: non-empty, printable ASCII, and none of '.', '*', '>',
// space or control characters. (NATS itself accepts more; this is the
// portable subset every client and the server's subject checks agree on.)
func ValidToken(tok string) bool {
	if tok == "" {
		return false
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c <= ' ' || c >= 0x7f || c == '.' || c == '*' || c == '>' {
			return false
		}
	}
	return true
}

// Table is the subject of a table's changes: <prefix>.<source>.<schema>.<table>
// with schema and table mapped by Token; a non-empty override (a valid token,
// capture.sources[].tables[].subject) replaces the table's token.
func Table(prefix, source, schema, table, override string) string {
	t := override
	if t == "" {
		t = Token(table)
	}
	return prefix + "." + source + "." + Token(schema) + "." + t
}
