package mysql

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// kind is how a column's value is published. The snapshot derives it from
// information_schema, the stream from the binlog table map; both then go
// through the same formatting below, so a row reads the same either way.
type kind uint8

const (
	kInt kind = iota
	kUint
	kDecimal
	kFloat
	kDouble
	kBit
	kYear
	kDate
	kTime
	kDatetime
	kTimestamp
	kText
	kBinary
	kJSON
	kEnum
	kSet
	kBool     // TINYINT(1) with tinyint1_handling: boolean
	kGeometry // spatial types: SRID + WKB as stored, published as (E)WKB
)

// valueOpts are a source's value handling settings.
type valueOpts struct {
	decimalNumber bool // decimal_handling: number
	tinyintBool   bool // tinyint1_handling: boolean
}

type column struct {
	Name   string
	Kind   kind
	FSP    int      // fractional second digits of TIME/DATETIME/TIMESTAMP
	Scale  int      // DECIMAL digits after the point
	Labels []string // ENUM/SET labels in definition order
	PadLen int      // BINARY(n): the binlog strips trailing zero bytes, SELECT does not
	Bits   int      // BIT(n): n
	Latin1 bool     // text in latin1: the binlog has its raw bytes
	Number bool     // DECIMAL published as a JSON number (decimal_handling: number)
}

const maxSafeInt = 1 << 53

func intValue(i int64) any {
	if i > maxSafeInt || i < -maxSafeInt {
		return strconv.FormatInt(i, 10)
	}
	return json.Number(strconv.FormatInt(i, 10))
}

func uintValue(u uint64) any {
	if u > maxSafeInt {
		return strconv.FormatUint(u, 10)
	}
	return json.Number(strconv.FormatUint(u, 10))
}

func floatValue(f float64, bits int) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return strconv.FormatFloat(f, 'g', -1, bits) // not storable in MySQL; kept valid JSON anyway
	}
	return json.Number(strconv.FormatFloat(f, 'g', -1, bits))
}

// fromText converts a value as SELECT returns it over the text protocol
// (session time_zone +00:00, utf8mb4). nil is SQL NULL.
func (c *column) fromText(b []byte) (any, error) {
	if b == nil {
		return nil, nil
	}
	s := string(b)
	switch c.Kind {
	case kInt:
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("integer %q: %w", s, err)
		}
		return intValue(i), nil
	case kUint:
		u, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("unsigned integer %q: %w", s, err)
		}
		return uintValue(u), nil
	case kYear:
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("year %q: %w", s, err)
		}
		return json.Number(strconv.FormatInt(i, 10)), nil
	case kDecimal:
		return c.decimal(fixDecimal(s, c.Scale)), nil
	case kBool:
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("tinyint(1) %q: %w", s, err)
		}
		return i != 0, nil
	case kFloat, kDouble:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("float %q: %w", s, err)
		}
		if c.Kind == kFloat {
			return floatValue(float64(float32(f)), 32), nil
		}
		return floatValue(f, 64), nil
	case kBit:
		if len(b) > 8 {
			return nil, fmt.Errorf("bit value of %d bytes", len(b))
		}
		var buf [8]byte
		copy(buf[8-len(b):], b)
		return bitString(binary.BigEndian.Uint64(buf[:]), c.Bits), nil
	case kEnum:
		return s, nil
	case kSet:
		return setValue(s), nil
	}
	return c.common(s, b)
}

// common handles the kinds whose text is the same in SELECT output and in
// go-mysql's binlog decoding. It takes the value both ways, b nil when the
// caller has only the string, because the stream's hot path would otherwise
// copy every string value twice (string to []byte and back).
func (c *column) common(s string, b []byte) (any, error) {
	switch c.Kind {
	case kBinary, kJSON, kGeometry:
		if b == nil {
			b = []byte(s)
		}
	}
	switch c.Kind {
	case kDate:
		return dateValue(s)
	case kTime:
		return timeValue(s, c.FSP)
	case kDatetime:
		return datetimeValue(s, c.FSP, "")
	case kTimestamp:
		return datetimeValue(s, c.FSP, "Z")
	case kText:
		if c.Latin1 {
			return latin1ToUTF8(s), nil
		}
		return s, nil
	case kBinary:
		if len(b) < c.PadLen {
			b = append(bytes.Clone(b), make([]byte, c.PadLen-len(b))...)
		}
		return base64.StdEncoding.EncodeToString(b), nil
	case kJSON:
		return jsonValue(b), nil
	case kGeometry:
		return geometryValue(b)
	}
	return nil, fmt.Errorf("unexpected %T value for column kind %d", s, c.Kind)
}

// fromBinlog converts a value as go-mysql decodes it from a rows event
// (UseDecimal, ParseTime false, TIMESTAMP rendered in UTC).
func (c *column) fromBinlog(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch c.Kind {
	case kInt:
		switch n := v.(type) {
		case int8:
			return intValue(int64(n)), nil
		case int16:
			return intValue(int64(n)), nil
		case int32:
			return intValue(int64(n)), nil
		case int64:
			return intValue(n), nil
		}
	case kUint:
		switch n := v.(type) {
		case uint8:
			return uintValue(uint64(n)), nil
		case uint16:
			return uintValue(uint64(n)), nil
		case uint32:
			return uintValue(uint64(n)), nil
		case uint64:
			return uintValue(n), nil
		}
	case kYear:
		if n, ok := v.(int); ok {
			return json.Number(strconv.Itoa(n)), nil
		}
	case kDecimal:
		switch d := v.(type) {
		case interface{ StringFixed(int32) string }: // shopspring decimal.Decimal
			return c.decimal(d.StringFixed(int32(c.Scale))), nil
		case string:
			return c.decimal(fixDecimal(d, c.Scale)), nil
		}
	case kBool:
		switch n := v.(type) {
		case int8:
			return n != 0, nil
		case uint8:
			return n != 0, nil
		}
	case kFloat:
		if f, ok := v.(float32); ok {
			return floatValue(float64(f), 32), nil
		}
	case kDouble:
		if f, ok := v.(float64); ok {
			return floatValue(f, 64), nil
		}
	case kBit:
		if n, ok := v.(int64); ok {
			return bitString(uint64(n), c.Bits), nil
		}
	case kEnum:
		if n, ok := v.(int64); ok {
			if n == 0 {
				return "", nil // the "error" value MySQL stores for an invalid label
			}
			if int(n) <= len(c.Labels) {
				return c.Labels[n-1], nil
			}
			return nil, fmt.Errorf("enum index %d beyond the %d labels in the table map", n, len(c.Labels))
		}
	case kSet:
		if n, ok := v.(int64); ok {
			labels := []any{}
			for i, l := range c.Labels {
				if uint64(n)&(1<<uint(i)) != 0 {
					labels = append(labels, l)
				}
			}
			return labels, nil
		}
	default:
		switch s := v.(type) {
		case string:
			return c.common(s, nil)
		case []byte:
			if c.Kind == kBinary || c.Kind == kJSON || c.Kind == kGeometry {
				return c.common("", s)
			}
			return c.common(string(s), s)
		}
	}
	return nil, fmt.Errorf("unexpected %T value for column kind %d", v, c.Kind)
}

// decimal publishes DECIMAL digits as a string, or as a JSON number with
// decimal_handling: number.
func (c *column) decimal(s string) any {
	if c.Number {
		return json.Number(s)
	}
	return s
}

// bitString renders BIT(n) like PostgreSQL's bit(n): n binary digits, most
// significant first.
func bitString(v uint64, n int) string {
	s := strconv.FormatUint(v, 2)
	if len(s) < n {
		s = strings.Repeat("0", n-len(s)) + s
	}
	return s
}

func setValue(s string) []any {
	out := []any{}
	if s == "" {
		return out
	}
	for _, l := range strings.Split(s, ",") {
		out = append(out, l)
	}
	return out
}

// fixDecimal renders a decimal with exactly scale fractional digits.
func fixDecimal(s string, scale int) string {
	intPart, frac, _ := strings.Cut(s, ".")
	if scale == 0 {
		return intPart
	}
	if len(frac) < scale {
		frac += strings.Repeat("0", scale-len(frac))
	}
	return intPart + "." + frac[:scale]
}

// dateValue: a date with a zero month or day (0000-00-00, 2024-00-10) has no
// calendar meaning and is published as null.
func dateValue(s string) (any, error) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return nil, fmt.Errorf("date %q", s)
	}
	if s[5:7] == "00" || s[8:10] == "00" {
		return nil, nil
	}
	return s, nil
}

// datetimeValue turns "YYYY-MM-DD hh:mm:ss[.ffffff]" into RFC 3339 with
// the fraction's trailing zeros trimmed and the given zone suffix.
func datetimeValue(s string, fsp int, zone string) (any, error) {
	date, clock, ok := strings.Cut(s, " ")
	if !ok {
		return nil, fmt.Errorf("datetime %q", s)
	}
	d, err := dateValue(date)
	if d == nil || err != nil {
		return nil, err
	}
	return date + "T" + fraction(clock, fsp) + zone, nil
}

// timeValue keeps MySQL's TIME text ([-]hhh:mm:ss), the fraction's
// trailing zeros trimmed.
func timeValue(s string, fsp int) (any, error) {
	if strings.Count(s, ":") != 2 {
		return nil, fmt.Errorf("time %q", s)
	}
	return fraction(s, fsp), nil
}

// fraction keeps at most fsp fractional digits of a clock reading and
// trims trailing zeros, as PostgreSQL prints times (docs/capture-types.md):
// equal instants read the same whatever the column's declared precision.
func fraction(clock string, fsp int) string {
	whole, frac, _ := strings.Cut(clock, ".")
	if len(frac) > fsp {
		frac = frac[:max(fsp, 0)]
	}
	frac = strings.TrimRight(frac, "0")
	if frac == "" {
		return whole
	}
	return whole + "." + frac
}

// jsonValue embeds JSON text compacted; text that is not JSON (possible in a
// MariaDB JSON column without its CHECK constraint) stays a string.
func jsonValue(b []byte) any {
	// Sized once: compacting never grows the text.
	buf := bytes.NewBuffer(make([]byte, 0, len(b)))
	if len(b) == 0 || json.Compact(buf, b) != nil {
		return string(b)
	}
	return json.RawMessage(buf.Bytes())
}
