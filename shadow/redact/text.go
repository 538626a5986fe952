package redact

import (
	"strconv"
	"strings"
)

// Free text (a body that is neither a form nor JSON, or was cut; a diff
// line; a header value) is scanned for the three ways a secret is usually
// written after its name: "name": value (JSON that does not parse),
// name=value (forms, queries, URLs, logs) and name: value (headers,
// YAML-like lines, up to the end of the line). The scan looks back from
// each '=' and ':' for a name and measures a value only after a secret
// one, so it goes on inside the value of any other name (a
// "Location: https://app/cb?code=…" line holds a secret pair) and reads
// each byte a bounded number of times, whatever an answer holds.

type pairStyle int

const (
	jsonPair  pairStyle = iota // "name": value
	equalPair                  // name=value
	colonPair                  // name: value
)

// text hashes the values of the secret pairs in s. Free text does not say
// what kind of name it holds: the rules of all kinds apply.
func (x *Exchange) text(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '=' && s[i] != ':' {
			continue
		}
		name, style, ok := nameBefore(s, i, last)
		if !ok || !(x.r.SecretParam(name) || x.r.SecretJSONKey(name) || x.r.SecretHeader(name)) {
			continue
		}
		vs := i + 1
		if style != equalPair {
			for vs < len(s) && (s[vs] == ' ' || s[vs] == '\t') {
				vs++
			}
		}
		ve := valueEnd(s, vs, style)
		if ve == vs {
			continue
		}
		b.WriteString(s[last:vs])
		b.WriteString(x.pairValue(s[vs:ve], style == jsonPair))
		last, i = ve, ve-1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// nameBefore returns the name written just before the separator s[i],
// looking no further back than floor.
func nameBefore(s string, i, floor int) (string, pairStyle, bool) {
	j := i
	if s[i] == ':' {
		for j > floor && (s[j-1] == ' ' || s[j-1] == '\t') {
			j--
		}
		if j > floor && s[j-1] == '"' {
			for k := j - 2; k >= floor && s[k] != '\n'; k-- {
				if s[k] == '"' && (k == floor || s[k-1] != '\\') {
					return jsonKey(s[k+1 : j-1]), jsonPair, true
				}
			}
			return "", 0, false
		}
	}
	k := j
	for k > floor && isNameByte(s[k-1], s[i] == '=') {
		k--
	}
	if k == j {
		return "", 0, false
	}
	if s[i] == '=' {
		return unescape(s[k:j]), equalPair, true
	}
	return s[k:j], colonPair, true
}

// isNameByte: letters, digits, _ - . and, in form names, [ ] % (user[pin],
// escaped names).
func isNameByte(c byte, form bool) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '.':
		return true
	case c == '[', c == ']', c == '%':
		return form
	}
	return false
}

// valueEnd is where the value starting at s[i] ends. A quoted value runs to
// its closing quote, or to the end of s when a cap cut it.
func valueEnd(s string, i int, style pairStyle) int {
	if i < len(s) && s[i] == '"' {
		for j := i + 1; j < len(s); j++ {
			switch {
			case s[j] == '\\' && style == jsonPair:
				j++
			case s[j] == '"':
				return j + 1
			case s[j] == '\n' && style != jsonPair:
				return j
			}
		}
		return len(s)
	}
	stop := "\r\n" // colonPair: the rest of the line
	switch style {
	case jsonPair:
		stop = ",}] \t\r\n"
	case equalPair:
		stop = "&;, \t\r\n\""
	}
	if j := strings.IndexAny(s[i:], stop); j >= 0 {
		return i + j
	}
	return len(s)
}

// pairValue hashes one value found by text, keeping its quotes; quote
// quotes a bare value too (a JSON number).
func (x *Exchange) pairValue(v string, quote bool) string {
	if !strings.HasPrefix(v, `"`) && !quote {
		return x.mark(strings.TrimSpace(v))
	}
	inner := strings.TrimSuffix(strings.TrimPrefix(v, `"`), `"`)
	if u, err := strconv.Unquote(`"` + inner + `"`); err == nil {
		inner = u
	}
	return `"` + x.mark(inner) + `"`
}

func jsonKey(escaped string) string {
	if u, err := strconv.Unquote(`"` + escaped + `"`); err == nil {
		return u
	}
	return escaped
}
