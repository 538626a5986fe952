package postgres

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Built-in type OIDs (pg_type.oid is stable for built-ins).
const (
	oidBool        = 16
	oidBytea       = 17
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidOID         = 26
	oidJSON        = 114
	oidMoney       = 790
	oidFloat4      = 700
	oidFloat8      = 701
	oidTimestamp   = 1114
	oidTimestamptz = 1184
	oidNumeric     = 1700
	oidJSONB       = 3802
)

// builtinArrays maps array type OIDs to their element OIDs.
var builtinArrays = map[uint32]uint32{
	1000: oidBool, 1001: oidBytea, 1005: oidInt2, 1007: oidInt4, 1016: oidInt8, 1028: oidOID,
	1009: 25, 1015: 1043, 1014: 1042, 1003: 19, 1021: oidFloat4, 1022: oidFloat8, 1231: oidNumeric,
	2951: 2950, 1182: 1082, 1183: 1083, 1115: oidTimestamp, 1185: oidTimestamptz, 1187: 1186,
	1270: 1266, 199: oidJSON, 3807: oidJSONB, 1041: 869, 651: 650, 1040: 829, 791: oidMoney,
}

const maxSafeInt = 1 << 53

// typeInfo describes a non-built-in type, as read from pg_type.
type typeInfo struct {
	elem uint32 // element type of an array, else 0
	base uint32 // base type of a domain, else 0
	// hstore: the type is the hstore extension's (its OID differs per
	// database), published as a JSON object.
	hstore bool
}

// converter turns pgoutput/snapshot TEXT values into JSON-ready values by type
// OID. Both the snapshot and the stream use it so they agree byte for byte.
type converter struct {
	types map[uint32]typeInfo // user-defined types seen so far
	// decimalNumbers publishes numeric and money as JSON numbers
	// (decimal_handling: number) instead of strings.
	decimalNumbers bool
}

func newConverter(decimalNumbers bool) *converter {
	return &converter{types: map[uint32]typeInfo{}, decimalNumbers: decimalNumbers}
}

func (c *converter) known(oid uint32) bool {
	if oid < 10000 { // built-in range (FirstNormalObjectId is 16384)
		return true
	}
	_, ok := c.types[oid]
	return ok
}

// convert returns nil for SQL NULL (text == nil).
func (c *converter) convert(oid uint32, text []byte) (any, error) {
	if text == nil {
		return nil, nil
	}
	// Common types first, before any map lookup or string copy.
	switch oid {
	case oidInt2, oidInt4, oidOID:
		return json.Number(text), nil
	case oidJSON, oidJSONB:
		if !json.Valid(text) {
			return nil, fmt.Errorf("invalid json value of %d bytes", len(text))
		}
		return json.RawMessage(append([]byte(nil), text...)), nil
	case oidTimestamptz:
		if v, ok := fastTimestamptz(text); ok {
			return v, nil
		}
	case oidTimestamp:
		return timestamp(text), nil
	}
	s := string(text)
	if oid >= 10000 {
		if ti, ok := c.types[oid]; ok {
			switch {
			case ti.hstore:
				return hstoreValue(s)
			case ti.base != 0:
				return c.convert(ti.base, text)
			case ti.elem != 0:
				return c.array(ti.elem, s)
			}
		}
	}
	if elem, ok := builtinArrays[oid]; ok {
		return c.array(elem, s)
	}
	switch oid {
	case oidBool:
		return s == "t", nil
	case oidInt2, oidInt4, oidOID:
		return json.Number(s), nil
	case oidInt8:
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("int8 %q: %w", s, err)
		}
		if v > maxSafeInt || v < -maxSafeInt {
			return s, nil
		}
		return json.Number(s), nil
	case oidFloat4, oidFloat8:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil && !strings.EqualFold(s, "nan") {
			return nil, fmt.Errorf("float %q: %w", s, err)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) || strings.EqualFold(s, "nan") {
			return s, nil
		}
		return json.Number(s), nil
	case oidNumeric:
		return c.decimal(s), nil
	case oidMoney:
		d, err := moneyValue(s)
		if err != nil {
			return nil, err
		}
		return c.decimal(d), nil
	case oidBytea:
		if !strings.HasPrefix(s, `\x`) {
			return nil, fmt.Errorf("bytea not in hex output format")
		}
		raw, err := hex.DecodeString(s[2:])
		if err != nil {
			return nil, fmt.Errorf("bytea: %w", err)
		}
		return base64.StdEncoding.EncodeToString(raw), nil
	case oidTimestamptz:
		return timestamptz(s), nil
	}
	// date, time, timetz, interval, uuid, inet, enum, text, ...: the text
	// form (with DateStyle=ISO, IntervalStyle=iso_8601 set on the session) is
	// the most faithful string.
	return s, nil
}

// decimal publishes a numeric's digits as a string, or as a JSON number
// with decimal_handling: number. NaN and ±Infinity have no JSON number form
// and stay strings either way.
func (c *converter) decimal(s string) any {
	if c.decimalNumbers && s != "" && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) && s != "-Infinity" {
		return json.Number(s)
	}
	return s
}

// timestamp renders a zone-less timestamp as ISO 8601 with a T: PostgreSQL
// prints "2024-01-02 03:04:05.5" (fraction without trailing zeros), published
// "2024-01-02T03:04:05.5". infinity and BC dates pass through as printed.
func timestamp(b []byte) string {
	if len(b) < len("2006-01-02 15:04:05") || b[10] != ' ' || bytes.HasSuffix(b, []byte(" BC")) {
		return string(b)
	}
	var out strings.Builder // one allocation
	out.Grow(len(b))
	out.Write(b[:10])
	out.WriteByte('T')
	out.Write(b[11:])
	return out.String()
}

// timestamptz renders RFC 3339 UTC, the fraction without trailing zeros (as
// PostgreSQL prints it). Values Go cannot parse (infinity, BC dates) are
// passed through as PostgreSQL printed them.
func timestamptz(s string) any {
	t, err := time.Parse("2006-01-02 15:04:05.999999Z07", s)
	if err != nil {
		t, err = time.Parse("2006-01-02 15:04:05.999999Z07:00", s)
	}
	if err != nil {
		t, err = time.Parse("2006-01-02 15:04:05.999999Z07:00:00", s)
	}
	if err != nil {
		return s
	}
	return t.UTC().Format("2006-01-02T15:04:05.999999Z07:00")
}

// fastTimestamptz handles the one form PostgreSQL prints in a UTC session,
// "YYYY-MM-DD HH:MM:SS[.f{1,6}]+00", without time.Parse and Format; anything
// else (BC, infinity, year > 9999, another offset) takes the general path.
func fastTimestamptz(b []byte) (string, bool) {
	const base = len("2006-01-02 15:04:05")
	if len(b) < base+3 || string(b[len(b)-3:]) != "+00" {
		return "", false
	}
	body := b[:len(b)-3]
	for i := 0; i < base; i++ {
		switch i {
		case 4, 7:
			if body[i] != '-' {
				return "", false
			}
		case 10:
			if body[i] != ' ' {
				return "", false
			}
		case 13, 16:
			if body[i] != ':' {
				return "", false
			}
		default:
			if body[i] < '0' || body[i] > '9' {
				return "", false
			}
		}
	}
	frac := body[base:]
	if len(frac) > 0 {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 7 || frac[len(frac)-1] == '0' {
			return "", false
		}
		for _, c := range frac[1:] {
			if c < '0' || c > '9' {
				return "", false
			}
		}
	}
	two := func(i int) int { return int(body[i]-'0')*10 + int(body[i+1]-'0') }
	if m, d := two(5), two(8); m < 1 || m > 12 || d < 1 || d > 31 || two(11) > 23 || two(14) > 59 || two(17) > 59 {
		return "", false
	}
	var buf [len("2006-01-02T15:04:05.000000Z")]byte
	out := append(buf[:0], body...)
	out[10] = 'T'
	out = append(out, 'Z')
	return string(out), true
}

// array parses the PostgreSQL array text format: {a,"b c",NULL,{…}}, with an
// optional [lo:hi]= dimension prefix. Elements are converted by elem OID.
func (c *converter) array(elem uint32, s string) (any, error) {
	if i := strings.Index(s, "="); i > 0 && strings.HasPrefix(s, "[") {
		s = s[i+1:]
	}
	p := arrayParser{s: s, conv: c, elem: elem}
	v, err := p.parse()
	if err != nil {
		return nil, fmt.Errorf("array %.40q: %w", s, err)
	}
	if p.pos != len(p.s) {
		return nil, fmt.Errorf("array %.40q: trailing data", s)
	}
	return v, nil
}

type arrayParser struct {
	s    string
	pos  int
	conv *converter
	elem uint32
}

func (p *arrayParser) parse() ([]any, error) {
	if p.pos >= len(p.s) || p.s[p.pos] != '{' {
		return nil, fmt.Errorf("expected '{' at %d", p.pos)
	}
	p.pos++
	out := []any{}
	if p.pos < len(p.s) && p.s[p.pos] == '}' {
		p.pos++
		return out, nil
	}
	for {
		if p.pos >= len(p.s) {
			return nil, fmt.Errorf("unterminated array")
		}
		var v any
		var err error
		switch p.s[p.pos] {
		case '{':
			v, err = p.parse()
		case '"':
			var str string
			str, err = p.quoted()
			if err == nil {
				v, err = p.conv.convert(p.elem, []byte(str))
			}
		default:
			start := p.pos
			for p.pos < len(p.s) && p.s[p.pos] != ',' && p.s[p.pos] != '}' {
				p.pos++
			}
			raw := p.s[start:p.pos]
			if strings.EqualFold(raw, "NULL") {
				v = nil
			} else {
				v, err = p.conv.convert(p.elem, []byte(raw))
			}
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		if p.pos >= len(p.s) {
			return nil, fmt.Errorf("unterminated array")
		}
		switch p.s[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return out, nil
		default:
			return nil, fmt.Errorf("unexpected %q at %d", p.s[p.pos], p.pos)
		}
	}
}

func (p *arrayParser) quoted() (string, error) {
	p.pos++ // opening quote
	var b strings.Builder
	for p.pos < len(p.s) {
		ch := p.s[p.pos]
		switch ch {
		case '\\':
			if p.pos+1 >= len(p.s) {
				return "", fmt.Errorf("dangling escape")
			}
			b.WriteByte(p.s[p.pos+1])
			p.pos += 2
		case '"':
			p.pos++
			return b.String(), nil
		default:
			b.WriteByte(ch)
			p.pos++
		}
	}
	return "", fmt.Errorf("unterminated quoted element")
}
