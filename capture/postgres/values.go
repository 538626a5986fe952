package postgres

import (
	"encoding/json"
	"fmt"
	"strings"
)

// moneyValue turns money's text into a decimal string. Its text depends on
// lc_monetary, which ficus sets to C on its sessions (snapshot and
// replication alike, see sessionParams), so the form is always
// [-]$d[,ddd]*.dd: the sign, the currency symbol and the group separators
// are dropped, the digits are kept as printed.
func moneyValue(s string) (string, error) {
	bad := func() (string, error) {
		// Not the value itself: row values may be personal data, and this
		// error reaches the log on every retry.
		return "", fmt.Errorf("a money value (%d bytes) is not in the C locale's form [-]$1,234.56", len(s))
	}
	body, neg := strings.CutPrefix(s, "-")
	body, ok := strings.CutPrefix(body, "$")
	if !ok || body == "" {
		return bad()
	}
	var b strings.Builder
	b.Grow(len(s))
	if neg {
		b.WriteByte('-')
	}
	intDigits, point := 0, false
	for i := 0; i < len(body); i++ {
		switch ch := body[i]; {
		case ch >= '0' && ch <= '9':
			b.WriteByte(ch)
			if !point {
				intDigits++
			}
		case ch == ',' && !point && intDigits > 0:
		case ch == '.' && !point && intDigits > 0 && i+1 < len(body):
			point = true
			b.WriteByte('.')
		default:
			return bad()
		}
	}
	if intDigits == 0 {
		return bad()
	}
	return b.String(), nil
}

// hstoreValue turns hstore's text form ("a"=>"1", "b"=>NULL) into a JSON
// object of strings and nulls, keys in the order PostgreSQL prints them.
// Unquoted keys and values (accepted on input) are read too.
func hstoreValue(s string) (json.RawMessage, error) {
	p := hstoreParser{s: s}
	out := []byte{'{'}
	p.space()
	for n := 0; p.pos < len(p.s); n++ {
		if n > 0 {
			if !p.eat(',') {
				return nil, p.errorf("expected ','")
			}
			p.space()
		}
		key, quoted, err := p.word()
		if err != nil {
			return nil, err
		}
		if !quoted && strings.EqualFold(key, "NULL") {
			return nil, p.errorf("NULL key")
		}
		p.space()
		if !p.eat('=') || !p.eat('>') {
			return nil, p.errorf("expected '=>'")
		}
		p.space()
		val, quoted, err := p.word()
		if err != nil {
			return nil, err
		}
		p.space()
		if n > 0 {
			out = append(out, ',')
		}
		out = appendJSONString(out, key)
		out = append(out, ':')
		if !quoted && strings.EqualFold(val, "NULL") {
			out = append(out, "null"...)
		} else {
			out = appendJSONString(out, val)
		}
	}
	return append(out, '}'), nil
}

type hstoreParser struct {
	s   string
	pos int
}

func (p *hstoreParser) errorf(format string, args ...any) error {
	return fmt.Errorf("hstore at byte %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *hstoreParser) eat(ch byte) bool {
	if p.pos < len(p.s) && p.s[p.pos] == ch {
		p.pos++
		return true
	}
	return false
}

func (p *hstoreParser) space() {
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t' || p.s[p.pos] == '\n' || p.s[p.pos] == '\r') {
		p.pos++
	}
}

// word reads a quoted string (backslash escapes the next byte) or an
// unquoted run up to space, ',', '=' or the end.
func (p *hstoreParser) word() (string, bool, error) {
	if p.eat('"') {
		var b strings.Builder
		for p.pos < len(p.s) {
			ch := p.s[p.pos]
			p.pos++
			switch ch {
			case '\\':
				if p.pos >= len(p.s) {
					return "", true, p.errorf("dangling escape")
				}
				b.WriteByte(p.s[p.pos])
				p.pos++
			case '"':
				return b.String(), true, nil
			default:
				b.WriteByte(ch)
			}
		}
		return "", true, p.errorf("unterminated string")
	}
	var b strings.Builder
	for p.pos < len(p.s) {
		ch := p.s[p.pos]
		if ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == ',' || ch == '=' || ch == '"' {
			break
		}
		p.pos++
		if ch == '\\' {
			if p.pos >= len(p.s) {
				return "", false, p.errorf("dangling escape")
			}
			ch = p.s[p.pos]
			p.pos++
		}
		b.WriteByte(ch)
	}
	if b.Len() == 0 {
		return "", false, p.errorf("expected a key or value")
	}
	return b.String(), false, nil
}

// appendJSONString appends s as a JSON string (encoding/json's escaping;
// the envelope encoder re-checks raw JSON anyway).
func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(dst, b...)
}
