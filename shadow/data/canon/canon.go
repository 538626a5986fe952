package canon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// TimestampLayout is the canonical timestamp text: UTC, microseconds.
const TimestampLayout = "2006-01-02 15:04:05.000000"

// DateLayout is the canonical date text.
const DateLayout = "2006-01-02"

// Canonical turns a column value as a Go driver or a change event decodes
// it (nil, string, []byte, integers, bool, float64, time.Time, json.Number,
// or anything with a String method) into the canonical text for kind.
func Canonical(kind Kind, v any) (Value, error) {
	if v == nil {
		return Value{Null: true}, nil
	}
	switch kind {
	case KindUUID:
		u, err := canonicalUUID(v)
		return Value{Text: u}, err
	case KindBinary:
		h, err := canonicalBinary(v)
		return Value{Text: h}, err
	}
	if t, ok := v.(time.Time); ok {
		switch kind {
		case KindDate:
			return Value{Text: t.Format(DateLayout)}, nil
		default:
			return Value{Text: t.UTC().Format(TimestampLayout)}, nil
		}
	}
	s, err := text(v)
	if err != nil {
		return Value{}, err
	}
	switch kind {
	case KindInteger, KindDecimal:
		d, err := ParseDecimal(s)
		if err != nil {
			return Value{}, err
		}
		return Value{Text: d.String()}, nil
	case KindTimestamp:
		t, err := parseTime(s)
		if err != nil {
			return Value{}, err
		}
		return Value{Text: t.UTC().Format(TimestampLayout)}, nil
	case KindDate:
		t, err := parseTime(s)
		if err != nil {
			return Value{}, err
		}
		return Value{Text: t.Format(DateLayout)}, nil
	case KindBool:
		switch strings.ToLower(s) {
		case "1", "t", "true", "y", "yes", "on":
			return Value{Text: "1"}, nil
		case "0", "f", "false", "n", "no", "off":
			return Value{Text: "0"}, nil
		}
		// TINYINT(1) holds any small integer; SQL counts non-zero as true.
		if d, err := ParseDecimal(s); err == nil {
			if d.Unscaled.Sign() == 0 {
				return Value{Text: "0"}, nil
			}
			return Value{Text: "1"}, nil
		}
		return Value{}, fmt.Errorf("not a boolean: %q", s)
	case KindJSON:
		c, err := CanonicalJSON([]byte(s))
		if err != nil {
			return Value{}, err
		}
		return Value{Text: c}, nil
	}
	return Value{Text: s}, nil
}

func text(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case []byte:
		return string(x), nil
	case bool:
		if x {
			return "1", nil
		}
		return "0", nil
	case int:
		return strconv.Itoa(x), nil
	case int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return fmt.Sprint(x), nil
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case json.Number:
		return x.String(), nil
	case fmt.Stringer:
		return x.String(), nil
	}
	return "", fmt.Errorf("unsupported value type %T", v)
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z07",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	DateLayout,
}

// parseTime reads a timestamp; text without a zone is UTC.
func parseTime(s string) (time.Time, error) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not a timestamp: %q", s)
}

// CanonicalJSON re-encodes a JSON document with object keys sorted, no
// insignificant space, and numbers in canonical decimal form, so that
// documents equal as JSON values have equal text.
func CanonicalJSON(b []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", fmt.Errorf("not JSON: %w", err)
	}
	if dec.More() {
		return "", fmt.Errorf("not JSON: data after the value")
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, v); err != nil {
		return "", err
	}
	return buf.String(), nil
}

func writeJSON(buf *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case json.Number:
		d, err := ParseDecimal(x.String())
		if err != nil {
			// Exponent forms keep their text; rare in data worth comparing.
			buf.WriteString(x.String())
			return nil
		}
		buf.WriteString(d.String())
	case map[string]any:
		// encoding/json sorts map keys, which is the canonical order.
		buf.WriteByte('{')
		first := true
		for _, k := range sortedKeys(x) {
			if !first {
				buf.WriteByte(',')
			}
			first = false
			kb, _ := json.Marshal(k)
			buf.Write(kb)
			buf.WriteByte(':')
			if err := writeJSON(buf, x[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case []any:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSON(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return err
		}
		buf.Write(b)
	}
	return nil
}

// Decimal is an exact decimal number: Unscaled × 10^-Scale.
type Decimal struct {
	Unscaled big.Int
	Scale    int32
}

// ParseDecimal reads a plain decimal such as -12.50 (no exponent).
func ParseDecimal(s string) (Decimal, error) {
	var d Decimal
	t := strings.TrimSpace(s)
	neg := strings.HasPrefix(t, "-")
	t = strings.TrimPrefix(strings.TrimPrefix(t, "-"), "+")
	intPart, frac, _ := strings.Cut(t, ".")
	digits := intPart + frac
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return d, fmt.Errorf("not a decimal number: %q", s)
	}
	d.Unscaled.SetString(digits, 10)
	if neg {
		d.Unscaled.Neg(&d.Unscaled)
	}
	d.Scale = int32(len(frac))
	return d, nil
}

// Mul returns d × e exactly.
func (d Decimal) Mul(e Decimal) Decimal {
	var r Decimal
	r.Unscaled.Mul(&d.Unscaled, &e.Unscaled)
	r.Scale = d.Scale + e.Scale
	return r
}

// String is the canonical text: no exponent, no trailing fractional zeros,
// no trailing dot, and 0 never negative.
func (d Decimal) String() string {
	s := new(big.Int).Abs(&d.Unscaled).String()
	scale := int(d.Scale)
	if scale > 0 {
		if len(s) <= scale {
			s = strings.Repeat("0", scale-len(s)+1) + s
		}
		s = s[:len(s)-scale] + "." + s[len(s)-scale:]
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if d.Unscaled.Sign() < 0 && s != "0" {
		s = "-" + s
	}
	return s
}

// Apply applies rule r to canonical legacy value v of kind k (after
// r.Kind): scale first, then map.
func Apply(r Rule, v Value) (Value, error) {
	if v.Null {
		return v, nil
	}
	if r.Scale != "" {
		d, err := ParseDecimal(v.Text)
		if err != nil {
			return Value{}, err
		}
		f, err := ParseDecimal(r.Scale)
		if err != nil {
			return Value{}, fmt.Errorf("scale: %w", err)
		}
		v.Text = d.Mul(f).String()
	}
	if m, ok := r.Map[v.Text]; ok {
		v.Text = m
	}
	return v, nil
}
