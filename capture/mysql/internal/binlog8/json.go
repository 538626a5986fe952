package binlog8

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// Object is a JSON object; MySQL stores its keys sorted by length, then bytes.
type Object map[string]any

// JSON type codes of MySQL's binary JSON format (json_binary.h).
const (
	jsonSmallObject = 0x00
	jsonSmallArray  = 0x02
	jsonLiteral     = 0x04
	jsonInt16       = 0x05
	jsonInt32       = 0x07
	jsonInt64       = 0x09
	jsonUint64      = 0x0a
	jsonDouble      = 0x0b
	jsonString      = 0x0c
)

// JSONDocument encodes v (Object, []any, string, int64, uint64, float64,
// bool, nil) in MySQL's binary JSON format, small (16-bit offset) variants
// only: the type byte, then the value.
func JSONDocument(v any) ([]byte, error) {
	typ, inline, body, err := jsonValue(v)
	if err != nil {
		return nil, err
	}
	if inline != nil {
		// A scalar document stores the scalar itself, not an inline entry.
		body = inline
		if typ == jsonLiteral {
			body = inline[:1]
		}
	}
	return append([]byte{typ}, body...), nil
}

// jsonValue returns v's type, and either its 2-byte inline form (literals
// and int16, stored in the value entry of a small container) or its body.
func jsonValue(v any) (typ byte, inline, body []byte, err error) {
	switch x := v.(type) {
	case nil:
		return jsonLiteral, []byte{0x00, 0}, nil, nil
	case bool:
		if x {
			return jsonLiteral, []byte{0x01, 0}, nil, nil
		}
		return jsonLiteral, []byte{0x02, 0}, nil, nil
	case int64:
		switch {
		case x >= math.MinInt16 && x <= math.MaxInt16:
			return jsonInt16, binary.LittleEndian.AppendUint16(nil, uint16(x)), nil, nil
		case x >= math.MinInt32 && x <= math.MaxInt32:
			return jsonInt32, nil, binary.LittleEndian.AppendUint32(nil, uint32(x)), nil
		}
		return jsonInt64, nil, binary.LittleEndian.AppendUint64(nil, uint64(x)), nil
	case uint64:
		return jsonUint64, nil, binary.LittleEndian.AppendUint64(nil, x), nil
	case float64:
		return jsonDouble, nil, binary.LittleEndian.AppendUint64(nil, math.Float64bits(x)), nil
	case string:
		return jsonString, nil, append(appendVarLen(nil, len(x)), x...), nil
	case []any:
		b, err := jsonContainer(nil, x)
		return jsonSmallArray, nil, b, err
	case Object:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int {
			return cmp.Or(cmp.Compare(len(a), len(b)), cmp.Compare(a, b))
		})
		vals := make([]any, len(keys))
		for i, k := range keys {
			vals[i] = x[k]
		}
		b, err := jsonContainer(keys, vals)
		return jsonSmallObject, nil, b, err
	}
	return 0, nil, nil, fmt.Errorf("json: unsupported %T", v)
}

// jsonContainer lays out a small object (keys != nil) or array: element
// count, total size, key entries, value entries, keys, then values; offsets
// count from the container's first byte.
func jsonContainer(keys []string, vals []any) ([]byte, error) {
	n := len(vals)
	header := 4 + 3*n
	if keys != nil {
		header += 4 * n
	}
	var keyEntries, valueEntries, data []byte
	for _, k := range keys {
		keyEntries = binary.LittleEndian.AppendUint16(keyEntries, uint16(header+len(data)))
		keyEntries = binary.LittleEndian.AppendUint16(keyEntries, uint16(len(k)))
		data = append(data, k...)
	}
	for _, v := range vals {
		typ, inline, body, err := jsonValue(v)
		if err != nil {
			return nil, err
		}
		valueEntries = append(valueEntries, typ)
		if inline != nil {
			valueEntries = append(valueEntries, inline...)
			continue
		}
		valueEntries = binary.LittleEndian.AppendUint16(valueEntries, uint16(header+len(data)))
		data = append(data, body...)
	}
	size := header + len(data)
	if size > math.MaxUint16 {
		return nil, fmt.Errorf("json: container of %d bytes needs the large format", size)
	}
	b := binary.LittleEndian.AppendUint16(nil, uint16(n))
	b = binary.LittleEndian.AppendUint16(b, uint16(size))
	b = append(b, keyEntries...)
	b = append(b, valueEntries...)
	return append(b, data...), nil
}

// appendVarLen: 7 bits per byte, least significant first, high bit = more.
func appendVarLen(b []byte, n int) []byte {
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	return append(b, byte(n))
}
