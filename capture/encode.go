package capture

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// The envelope is encoded by hand because it is the per-event hot path of
// every source: encoding/json's reflection, its per-value Marshal calls for
// Row and its re-validation of Marshaler output cost more CPU than the rest
// of the pipeline. The output is byte for byte what encoding/json produces
// (HTML-safe escaping, compacted raw JSON), which the tests check.

// AppendEnvelope appends the Debezium-style JSON payload to dst.
func (c *Change) AppendEnvelope(dst []byte) ([]byte, error) {
	var err error
	dst = append(dst, `{"op":`...)
	dst = appendString(dst, string(c.Op))
	dst = append(dst, `,"before":`...)
	if dst, err = c.Before.appendJSON(dst); err != nil {
		return nil, c.encodeErr(err)
	}
	dst = append(dst, `,"after":`...)
	if dst, err = c.After.appendJSON(dst); err != nil {
		return nil, c.encodeErr(err)
	}
	dst = append(dst, `,"key":`...)
	if dst, err = c.Key.appendJSON(dst); err != nil {
		return nil, c.encodeErr(err)
	}
	dst = append(dst, `,"source":`...)
	dst = c.Source.appendJSON(dst)
	dst = append(dst, `,"ts_ms":`...)
	dst = strconv.AppendInt(dst, c.Time.UnixMilli(), 10)
	return append(dst, '}'), nil
}

func (c *Change) encodeErr(err error) error {
	return fmt.Errorf("encode %s change on %s.%s: %w", c.Op, c.Source.Schema, c.Source.Table, err)
}

// appendJSON must list every SourceMeta field in declaration order with the
// same omitempty rules as its json tags (TestSourceMetaMatchesTags checks).
func (s *SourceMeta) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"connector":`...)
	dst = appendString(dst, s.Connector)
	dst = append(dst, `,"name":`...)
	dst = appendString(dst, s.Name)
	dst = append(dst, `,"db":`...)
	dst = appendString(dst, s.DB)
	dst = append(dst, `,"schema":`...)
	dst = appendString(dst, s.Schema)
	dst = append(dst, `,"table":`...)
	dst = appendString(dst, s.Table)
	if s.LSN != "" {
		dst = append(dst, `,"lsn":`...)
		dst = appendString(dst, s.LSN)
	}
	if s.TxID != 0 {
		dst = append(dst, `,"tx_id":`...)
		dst = strconv.AppendUint(dst, uint64(s.TxID), 10)
	}
	if s.CommitLSN != "" {
		dst = append(dst, `,"commit_lsn":`...)
		dst = appendString(dst, s.CommitLSN)
	}
	dst = append(dst, `,"snapshot":`...)
	dst = strconv.AppendBool(dst, s.Snapshot)
	dst = append(dst, `,"ts_ms":`...)
	dst = strconv.AppendInt(dst, s.TsMs, 10)
	if len(s.UnchangedToast) > 0 {
		dst = append(dst, `,"unchanged_toast":[`...)
		for i, n := range s.UnchangedToast {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, n)
		}
		dst = append(dst, ']')
	}
	if s.File != "" {
		dst = append(dst, `,"file":`...)
		dst = appendString(dst, s.File)
	}
	if s.Pos != 0 {
		dst = append(dst, `,"pos":`...)
		dst = strconv.AppendUint(dst, uint64(s.Pos), 10)
	}
	if s.GTID != "" {
		dst = append(dst, `,"gtid":`...)
		dst = appendString(dst, s.GTID)
	}
	if s.ServerID != 0 {
		dst = append(dst, `,"server_id":`...)
		dst = strconv.AppendUint(dst, uint64(s.ServerID), 10)
	}
	return append(dst, '}')
}

func (r Row) appendJSON(dst []byte) ([]byte, error) {
	if r == nil {
		return append(dst, "null"...), nil
	}
	dst = append(dst, '{')
	for i, f := range r {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, f.Name)
		dst = append(dst, ':')
		var err error
		if dst, err = appendValue(dst, f.Value); err != nil {
			return nil, fmt.Errorf("column %q: %w", f.Name, err)
		}
	}
	return append(dst, '}'), nil
}

// appendValue handles the types sources produce; anything else goes through
// encoding/json, so an unusual value is slower but never wrong.
func appendValue(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case string:
		return appendString(dst, v), nil
	case json.Number:
		if v == "" {
			return append(dst, '0'), nil
		}
		if !validNumber(string(v)) {
			return nil, fmt.Errorf("invalid number literal %q", string(v))
		}
		return append(dst, v...), nil
	case json.RawMessage:
		if v == nil {
			return append(dst, "null"...), nil
		}
		return appendCompact(dst, v)
	case bool:
		return strconv.AppendBool(dst, v), nil
	case []any:
		if v == nil {
			return append(dst, "null"...), nil
		}
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendValue(dst, e); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(dst, b...), nil
}

const hexDigits = "0123456789abcdef"

// appendString quotes s like encoding/json: HTML-safe (<, >, & escaped),
// invalid UTF-8 replaced by U+FFFD, U+2028 and U+2029 escaped.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendCompact appends raw JSON without insignificant whitespace and with
// the same escaping as appendString applies inside strings, as
// encoding/json does for a json.RawMessage. Invalid JSON is an error.
func appendCompact(dst, src []byte) ([]byte, error) {
	if !json.Valid(src) {
		return nil, fmt.Errorf("invalid raw JSON of %d bytes", len(src))
	}
	inString := false
	start := 0
	for i := 0; i < len(src); i++ {
		b := src[i]
		if inString {
			switch {
			case b == '\\':
				i++ // the escaped character cannot end the string
			case b == '"':
				inString = false
			case b == '<' || b == '>' || b == '&':
				dst = append(dst, src[start:i]...)
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
				start = i + 1
			case b == 0xE2 && i+2 < len(src) && src[i+1] == 0x80 && src[i+2]&^1 == 0xA8:
				dst = append(dst, src[start:i]...)
				dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[src[i+2]&0xF])
				i += 2
				start = i + 1
			}
			continue
		}
		switch b {
		case '"':
			inString = true
		case ' ', '\t', '\n', '\r':
			dst = append(dst, src[start:i]...)
			start = i + 1
		}
	}
	return append(dst, src[start:]...), nil
}

// validNumber reports whether s is a JSON number, as encoding/json requires
// of a json.Number.
func validNumber(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' {
		s = s[1:]
		if s == "" {
			return false
		}
	}
	switch {
	case s[0] == '0':
		s = s[1:]
	case '1' <= s[0] && s[0] <= '9':
		s = s[1:]
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	default:
		return false
	}
	if len(s) >= 2 && s[0] == '.' && '0' <= s[1] && s[1] <= '9' {
		s = s[2:]
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	if len(s) >= 2 && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if s[0] == '+' || s[0] == '-' {
			s = s[1:]
			if s == "" {
				return false
			}
		}
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	return s == ""
}
