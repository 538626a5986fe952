package diff

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// seg is one step of a JSON path: an object key, an array index, or (in
// patterns only) a wildcard matching any key or index.
type seg struct {
	key   string
	idx   int
	isIdx bool
	wild  bool
}

// maxKeyRender caps how much of one object key is rendered into a path so
// that hostile bodies cannot make paths (and records built from them)
// arbitrarily large.
const maxKeyRender = 200

// parsePattern parses "$", "$.a.b", "$.items[*].x", `$["odd key"]`, "$.*";
// a leading "$" may be omitted when the pattern starts with "." or "[".
func parsePattern(p string) ([]seg, error) {
	s := p
	switch {
	case strings.HasPrefix(s, "$"):
		s = s[1:]
	case strings.HasPrefix(s, "."), strings.HasPrefix(s, "["):
	default:
		return nil, fmt.Errorf("path %q: must start with \"$\"", p)
	}
	var segs []seg
	for len(s) > 0 {
		switch s[0] {
		case '.':
			s = s[1:]
			n := strings.IndexAny(s, ".[")
			if n < 0 {
				n = len(s)
			}
			key := s[:n]
			s = s[n:]
			switch key {
			case "":
				return nil, fmt.Errorf("path %q: empty key", p)
			case "*":
				segs = append(segs, seg{wild: true})
			default:
				segs = append(segs, seg{key: key})
			}
		case '[':
			end, sg, err := parseBracket(s)
			if err != nil {
				return nil, fmt.Errorf("path %q: %w", p, err)
			}
			segs = append(segs, sg)
			s = s[end:]
		default:
			return nil, fmt.Errorf("path %q: unexpected %q", p, s[0])
		}
	}
	return segs, nil
}

// parseBracket parses a leading "[n]", "[*]" or `["key"]` of s and returns
// the length consumed.
func parseBracket(s string) (int, seg, error) {
	if strings.HasPrefix(s, "[*]") {
		return 3, seg{wild: true}, nil
	}
	if strings.HasPrefix(s, `["`) {
		i := 2
		for i < len(s) && s[i] != '"' {
			if s[i] == '\\' {
				i++
			}
			i++
		}
		if i >= len(s) || i+1 >= len(s) || s[i+1] != ']' {
			return 0, seg{}, fmt.Errorf("unterminated quoted key")
		}
		var key string
		if err := json.Unmarshal([]byte(s[1:i+1]), &key); err != nil {
			return 0, seg{}, fmt.Errorf("quoted key: %w", err)
		}
		return i + 2, seg{key: key}, nil
	}
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return 0, seg{}, fmt.Errorf("unterminated [")
	}
	num := s[1:end]
	if num == "" || len(num) > 9 || strings.TrimLeft(num, "0123456789") != "" {
		return 0, seg{}, fmt.Errorf("bad index %q (want a number, * or a quoted key)", num)
	}
	n, err := strconv.Atoi(num)
	if err != nil {
		return 0, seg{}, fmt.Errorf("bad index %q: %w", num, err)
	}
	return end + 1, seg{idx: n, isIdx: true}, nil
}

// matchPath reports whether pattern matches path exactly (same depth).
func matchPath(pattern, path []seg) bool {
	if len(pattern) != len(path) {
		return false
	}
	for i, p := range pattern {
		q := path[i]
		switch {
		case p.wild:
		case p.isIdx:
			if !q.isIdx || q.idx != p.idx {
				return false
			}
		default:
			if q.isIdx || q.key != p.key {
				return false
			}
		}
	}
	return true
}

// renderPath renders segments as "$.items[3].price" or `$["odd key"]`.
func renderPath(path []seg) string {
	b := make([]byte, 0, 32)
	b = append(b, '$')
	for _, s := range path {
		b = appendSeg(b, s)
	}
	return string(b)
}

func appendSeg(b []byte, s seg) []byte {
	switch {
	case s.wild:
		return append(b, "[*]"...)
	case s.isIdx:
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(s.idx), 10)
		return append(b, ']')
	case isIdent(s.key) && len(s.key) <= maxKeyRender:
		b = append(b, '.')
		return append(b, s.key...)
	default:
		key := s.key
		if len(key) > maxKeyRender {
			key = cutUTF8(key, maxKeyRender) + "…"
		}
		b = append(b, '[')
		b = appendJSONString(b, key)
		return append(b, ']')
	}
}

func isIdent(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		letter := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// PathKeys returns the object keys along a JSON path of a Diff, in order:
// "$.user.password" gives user, password and `$.a["odd key"][2]` gives a,
// odd key. ok is false when p is not a JSON path ("status", "header:X").
func PathKeys(p string) (keys []string, ok bool) {
	if !strings.HasPrefix(p, "$") {
		return nil, false
	}
	segs, err := parsePattern(p)
	if err != nil {
		return nil, false
	}
	for _, s := range segs {
		if !s.isIdx && !s.wild {
			keys = append(keys, s.key)
		}
	}
	return keys, true
}

// Generalize replaces array indexes in a JSON path by [*]:
// "$.items[3].price" -> "$.items[*].price". Non-JSON paths ("status",
// "header:X", "body:line:12") are returned unchanged: text lines are fixed
// positions, not collection members. Malformed input is returned as is.
func Generalize(path string) string {
	if !strings.HasPrefix(path, "$") || !strings.Contains(path, "[") {
		return path
	}
	var b strings.Builder
	b.Grow(len(path))
	for i := 0; i < len(path); {
		c := path[i]
		if c != '[' {
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 < len(path) && path[i+1] == '"' {
			// Copy a quoted key verbatim: it may contain "[3]".
			j := i + 2
			for j < len(path) && path[j] != '"' {
				if path[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, len(path))
			b.WriteString(path[i:j])
			i = j
			continue
		}
		j := i + 1
		for j < len(path) && path[j] >= '0' && path[j] <= '9' {
			j++
		}
		if j > i+1 && j < len(path) && path[j] == ']' {
			b.WriteString("[*]")
			i = j + 1
			continue
		}
		b.WriteByte(c)
		i++
	}
	return b.String()
}
