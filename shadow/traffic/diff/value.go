package diff

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// maxValueBytes caps Diff.Legacy and Diff.New; longer values become a JSON
// string holding a prefix of their JSON text and a truncation marker.
const maxValueBytes = 256

const truncMark = "…(truncated)"

// TruncMark ends a Diff value that was cut to its cap.
const TruncMark = truncMark

// appendJSONString appends s as a valid JSON string; invalid UTF-8 becomes
// U+FFFD so the output is always valid JSON.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// cutUTF8 returns at most n bytes of s without splitting a rune.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// capRaw turns JSON text into a bounded json.RawMessage.
func capRaw(b []byte) json.RawMessage {
	if len(b) <= maxValueBytes {
		return json.RawMessage(b)
	}
	s := cutUTF8(string(b), maxValueBytes) + truncMark
	return json.RawMessage(appendJSONString(nil, s))
}

// encodeValue renders a decoded JSON value (numbers kept as written) and
// stops early once the cap is exceeded, so huge subtrees cost little.
func encodeValue(v any) json.RawMessage {
	b := appendValue(make([]byte, 0, 64), v, maxValueBytes+1)
	return capRaw(b)
}

func appendValue(b []byte, v any, limit int) []byte {
	if len(b) > limit {
		return b
	}
	switch t := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, t)
	case json.Number:
		return append(b, t...)
	case string:
		return appendJSONString(b, t)
	case []any:
		b = append(b, '[')
		for i, e := range t {
			if len(b) > limit {
				return b
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, e, limit)
		}
		return append(b, ']')
	case map[string]any:
		b = append(b, '{')
		for i, k := range sortedKeys(t) {
			if len(b) > limit {
				return b
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendValue(b, t[k], limit)
		}
		return append(b, '}')
	}
	return append(b, "null"...)
}

func stringValue(s string) json.RawMessage {
	if len(s) > maxValueBytes {
		s = cutUTF8(s, maxValueBytes) + truncMark
	}
	return json.RawMessage(appendJSONString(nil, s))
}

func intValue(n int64) json.RawMessage {
	return json.RawMessage(strconv.AppendInt(nil, n, 10))
}
