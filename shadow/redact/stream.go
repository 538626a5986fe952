package redact

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// The streaming JSON path: a JSON body is redacted over its bytes, without
// decoding it into a tree. A small scanner checks the whole document
// first (RFC 8259, as encoding/json reads it) and notes the values to
// replace; only then are they replaced, in the order received, so the
// body keeps its key order, spacing and escapes wherever nothing secret
// is. What it redacts is what jsonTree redacts (FuzzBodyDifferential
// compares the two); where it cannot be sure of that — a duplicate key,
// which the tree keeps only the last of, an escaped key, nesting deeper
// than maxStreamDepth — it says so and the tree path runs instead.

// maxStreamDepth bounds the scanner's recursion.
const maxStreamDepth = 256

// streamResult is how the scanner ended.
type streamResult int

const (
	streamDone    streamResult = iota // redacted
	streamInvalid                     // not JSON: encoding/json would refuse it too
	streamUnsure                      // JSON the tree path must handle
)

type editKind uint8

const (
	editText   editKind = iota // a string value to scan as text: str
	editSecret                 // a secret string (str) or literal (the raw bytes)
	editTree                   // a secret object or array: tree
)

// edit is one value of the body to replace.
type edit struct {
	start, end int
	kind       editKind
	str        string // decoded string; "" for a literal
	isStr      bool
	tree       any
}

type jsonScan struct {
	r      *Redactor
	b      []byte
	i      int
	depth  int
	quiet  int      // > 0 inside a secret value: nothing to note
	keys   [][]byte // keys of the open objects, to find duplicates
	secret map[string]bool
	edits  []edit
	unsure bool
}

// streamJSON redacts the JSON document b; see streamResult.
func (x *Exchange) streamJSON(b []byte) (string, streamResult) {
	if !utf8.Valid(b) {
		return "", streamUnsure
	}
	s := jsonScan{r: x.r, b: b, secret: map[string]bool{}}
	s.ws()
	ok := s.value(false)
	s.ws()
	switch {
	case s.unsure:
		return "", streamUnsure
	case !ok || s.i != len(b):
		return "", streamInvalid
	}
	var out strings.Builder
	last := 0
	for _, e := range s.edits {
		var rep string
		switch e.kind {
		case editText:
			t := x.text(e.str)
			if t == e.str {
				continue
			}
			rep = quoteJSON(t)
		case editSecret:
			if e.isStr {
				rep = quoteJSON(x.mark(e.str))
			} else {
				rep = quoteJSON(x.mark(string(b[e.start:e.end])))
			}
		case editTree:
			rep = quoteJSON(x.secretJSON(e.tree))
		}
		if out.Len() == 0 {
			out.Grow(len(b) + 64)
		}
		out.Write(b[last:e.start])
		out.WriteString(rep)
		last = e.end
	}
	if last == 0 {
		return string(b), streamDone // nothing replaced
	}
	out.Write(b[last:])
	return out.String(), streamDone
}

// quoteJSON is s as a JSON string, as encodeJSON writes it.
func quoteJSON(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return encodeJSON(s)
		}
	}
	return `"` + s + `"`
}

func (s *jsonScan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScan) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// value scans the value at s.i; secret: it is under a secret key.
func (s *jsonScan) value(secret bool) bool {
	start := s.i
	switch c := s.peek(); {
	case c == '{', c == '[':
		if !secret || s.quiet > 0 {
			return s.nested(c)
		}
		s.quiet++
		ok := s.nested(c)
		s.quiet--
		if !ok {
			return false
		}
		// Rare: the secret value's own encoding is hashed, and the
		// strings and numbers inside it remembered, exactly as the tree
		// path does, from the library's decoding of it.
		v, dok := decodeJSON(s.b[start:s.i])
		if !dok {
			s.unsure = true
			return false
		}
		s.edits = append(s.edits, edit{start: start, end: s.i, kind: editTree, tree: v})
		return true
	case c == '"':
		return s.str(secret)
	case c == 't':
		return s.literal("true", secret)
	case c == 'f':
		return s.literal("false", secret)
	case c == 'n':
		return s.literal("null", false) // a secret key's null stays null
	case c == '-', c >= '0' && c <= '9':
		if !s.number() {
			return false
		}
		if secret && s.quiet == 0 {
			s.edits = append(s.edits, edit{start: start, end: s.i, kind: editSecret})
		}
		return true
	}
	return false
}

func (s *jsonScan) literal(word string, secret bool) bool {
	start := s.i
	if !bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		return false
	}
	s.i += len(word)
	if secret && s.quiet == 0 {
		s.edits = append(s.edits, edit{start: start, end: s.i, kind: editSecret})
	}
	return true
}

func (s *jsonScan) number() bool {
	b, i := s.b, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i)
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return false
		}
		i = j
	}
	s.i = i
	return true
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// nested scans the object or array at s.i.
func (s *jsonScan) nested(open byte) bool {
	if s.depth >= maxStreamDepth {
		s.unsure = true
		return false
	}
	s.depth++
	first := len(s.keys)
	ok := s.nestedIn(open, first)
	s.keys = s.keys[:first]
	s.depth--
	return ok
}

// nestedIn is nested; the keys of an object are noted from s.keys[first].
func (s *jsonScan) nestedIn(open byte, first int) bool {
	s.i++
	s.ws()
	if open == '[' {
		if s.peek() == ']' {
			s.i++
			return true
		}
		for {
			if !s.value(false) {
				return false
			}
			s.ws()
			switch s.peek() {
			case ',':
				s.i++
				s.ws()
			case ']':
				s.i++
				return true
			default:
				return false
			}
		}
	}
	var seen map[string]bool // of a large object
	if s.peek() == '}' {
		s.i++
		return true
	}
	for {
		if s.peek() != '"' {
			return false
		}
		ks := s.i
		esc, _, ok := s.skipString()
		if !ok {
			return false
		}
		secret := false
		if s.quiet == 0 {
			if esc {
				s.unsure = true // the key's spelling is not its name
				return false
			}
			key := s.b[ks+1 : s.i-1]
			if s.duplicate(key, first, &seen) {
				s.unsure = true // the tree keeps only the last
				return false
			}
			secret = s.isSecret(key)
		}
		s.ws()
		if s.peek() != ':' {
			return false
		}
		s.i++
		s.ws()
		if !s.value(secret) {
			return false
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
			s.ws()
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}

// duplicate reports whether key was seen in the object whose keys start at
// s.keys[first], and notes it: a linear search, then a map for objects of
// many keys.
func (s *jsonScan) duplicate(key []byte, first int, seen *map[string]bool) bool {
	const linear = 32
	if *seen != nil {
		if (*seen)[string(key)] {
			return true
		}
		(*seen)[string(key)] = true
		return false
	}
	for _, k := range s.keys[first:] {
		if bytes.Equal(k, key) {
			return true
		}
	}
	s.keys = append(s.keys, key)
	if len(s.keys)-first >= linear {
		*seen = make(map[string]bool, 2*linear)
		for _, k := range s.keys[first:] {
			(*seen)[string(k)] = true
		}
	}
	return false
}

// isSecret is SecretJSONKey, remembered per key for this body: the same
// few keys repeat in every element of an array.
func (s *jsonScan) isSecret(key []byte) bool {
	if v, ok := s.secret[string(key)]; ok {
		return v
	}
	k := string(key)
	v := s.r.SecretJSONKey(k)
	s.secret[k] = v
	return v
}

// str scans the string value at s.i and notes it: a secret one is hashed,
// another one is scanned as text when it may hold a pair (a '=' or ':').
func (s *jsonScan) str(secret bool) bool {
	start := s.i
	esc, sep, ok := s.skipString()
	if !ok {
		return false
	}
	if s.quiet > 0 || (!secret && !sep && !esc) {
		return true
	}
	raw := s.b[start:s.i]
	var v string
	if esc {
		if err := json.Unmarshal(raw, &v); err != nil {
			s.unsure = true
			return false
		}
	} else {
		v = string(raw[1 : len(raw)-1])
	}
	switch {
	case secret:
		s.edits = append(s.edits, edit{start: start, end: s.i, kind: editSecret, str: v, isStr: true})
	case strings.ContainsAny(v, "=:"):
		s.edits = append(s.edits, edit{start: start, end: s.i, kind: editText, str: v})
	}
	return true
}

// skipString moves past the string at s.i; esc: it holds an escape, sep:
// a '=' or ':' as written.
func (s *jsonScan) skipString() (esc, sep, ok bool) {
	b := s.b
	for i := s.i + 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			s.i = i + 1
			return esc, sep, true
		case c == '\\':
			esc = true
			i++
			if i >= len(b) {
				return esc, sep, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) {
					return esc, sep, false
				}
				i += 4
			default:
				return esc, sep, false
			}
		case c < 0x20:
			return esc, sep, false
		case c == '=', c == ':':
			sep = true
		}
	}
	return esc, sep, false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
