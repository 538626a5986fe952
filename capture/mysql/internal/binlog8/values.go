package binlog8

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// Row values in the rows event encoding of each type.

// Int32Value is an INT value.
func Int32Value(v int32) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(v)) }

// Uint64Value is a BIGINT value.
func Uint64Value(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// EnumValue is an ENUM value: the 1-based index of its label.
func EnumValue(index byte) []byte { return []byte{index} }

// SetValue is a SET value: one bit per label, the first label in bit 0.
func SetValue(bits byte) []byte { return []byte{bits} }

// VarcharValue is a VARCHAR value; its length takes 2 bytes when the column's
// maximum length in bytes is 256 or more.
func VarcharValue(s string, maxBytes uint16) []byte {
	if maxBytes < 256 {
		return append([]byte{byte(len(s))}, s...)
	}
	return append(binary.LittleEndian.AppendUint16(nil, uint16(len(s))), s...)
}

// BlobValue prefixes b with its length in packLen bytes.
func BlobValue(b []byte, packLen int) []byte {
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(b)))
	return append(n[:packLen:packLen], b...)
}

// JSONValue is a JSON column: the binary document after a 4-byte length.
func JSONValue(doc []byte) []byte { return BlobValue(doc, 4) }

var dig2bytes = [10]int{0, 1, 1, 2, 2, 3, 3, 4, 4, 4}

// DecimalValue encodes a DECIMAL(precision, scale) literal like "-12.5" in
// MySQL's decimal2bin format: big-endian groups of 9 digits (4 bytes), the
// leftover leading integer and trailing fraction digits in fewer bytes,
// negative values one's-complemented, and the sign bit flipped.
func DecimalValue(lit string, precision, scale int) ([]byte, error) {
	neg := strings.HasPrefix(lit, "-")
	intPart, frac, _ := strings.Cut(strings.TrimPrefix(lit, "-"), ".")
	intg := precision - scale
	if len(intPart) > intg || len(frac) > scale {
		return nil, fmt.Errorf("decimal %q does not fit (%d,%d)", lit, precision, scale)
	}
	intPart = strings.Repeat("0", intg-len(intPart)) + intPart
	frac += strings.Repeat("0", scale-len(frac))
	var b []byte
	group := func(digits string) error {
		if digits == "" {
			return nil
		}
		n, err := strconv.ParseUint(digits, 10, 32)
		if err != nil {
			return fmt.Errorf("decimal %q: %w", lit, err)
		}
		size := dig2bytes[len(digits)]
		for i := size - 1; i >= 0; i-- {
			b = append(b, byte(n>>(8*i)))
		}
		return nil
	}
	lead := intg % 9
	parts := []string{intPart[:lead]}
	for i := lead; i < intg; i += 9 {
		parts = append(parts, intPart[i:i+9])
	}
	for i := 0; i+9 <= scale; i += 9 {
		parts = append(parts, frac[i:i+9])
	}
	parts = append(parts, frac[scale-scale%9:])
	for _, p := range parts {
		if err := group(p); err != nil {
			return nil, err
		}
	}
	if neg {
		for i := range b {
			b[i] = ^b[i]
		}
	}
	b[0] ^= 0x80
	return b, nil
}

// fracBytes stores microseconds with fsp digits in (fsp+1)/2 big-endian bytes.
func fracBytes(usec int, fsp int) []byte {
	switch fsp {
	case 1, 2:
		return []byte{byte(usec / 10000)}
	case 3, 4:
		return binary.BigEndian.AppendUint16(nil, uint16(usec/100))
	case 5, 6:
		return []byte{byte(usec >> 16), byte(usec >> 8), byte(usec)}
	}
	return nil
}

// Datetime2Value encodes a DATETIME(fsp): 40 bits of year*13+month, day,
// hour, minute, second packed big-endian with a 0x8000000000 offset, then
// the fraction.
func Datetime2Value(year, month, day, hour, minute, second, usec, fsp int) []byte {
	ymd := int64(year*13+month)<<5 | int64(day)
	hms := int64(hour)<<12 | int64(minute)<<6 | int64(second)
	v := (ymd<<17 | hms) + 0x8000000000
	b := []byte{byte(v >> 32), byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
	return append(b, fracBytes(usec, fsp)...)
}

// Timestamp2Value encodes a TIMESTAMP(fsp): big-endian seconds since the
// epoch, then the fraction.
func Timestamp2Value(sec uint32, usec, fsp int) []byte {
	return append(binary.BigEndian.AppendUint32(nil, sec), fracBytes(usec, fsp)...)
}
