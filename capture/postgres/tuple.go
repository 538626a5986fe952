package postgres

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/jackc/pglogrepl"
)

// Insert, Update and Delete are decoded here rather than by pglogrepl: they
// are one message per row, and pglogrepl allocates a struct and a copy of the
// bytes for every column. These views point into the message buffer, are
// reused from row to row, and are only valid until the next message; the
// converter copies what it keeps.

// tupleCol is one column of a pgoutput TupleData.
type tupleCol struct {
	kind byte   // pglogrepl.TupleDataType{Null,Toast,Text,Binary}
	data []byte // for text and binary
}

// rowMsg is a decoded Insert, Update or Delete.
type rowMsg struct {
	relID   uint32
	oldKind byte // 'K' (identity columns), 'O' (whole old row) or 0
	old     []tupleCol
	new     []tupleCol // nil for a Delete
	hasNew  bool
	scratch [2][]tupleCol
}

var errShort = errors.New("message too short")

// decodeRow decodes an 'I', 'U' or 'D' message into m, reusing its buffers.
func (m *rowMsg) decode(src []byte) error {
	if len(src) < 6 {
		return fmt.Errorf("%c message: %w", src[0], errShort)
	}
	typ := src[0]
	m.relID = binary.BigEndian.Uint32(src[1:5])
	m.oldKind, m.old, m.new, m.hasNew = 0, nil, nil, false
	rest := src[5:]
	var err error
	if typ != 'I' && (rest[0] == 'K' || rest[0] == 'O') {
		m.oldKind = rest[0]
		if m.scratch[0], rest, err = decodeTuple(rest[1:], m.scratch[0][:0]); err != nil {
			return fmt.Errorf("%c message old tuple: %w", typ, err)
		}
		m.old = m.scratch[0]
	}
	if typ == 'D' {
		if m.oldKind == 0 {
			return fmt.Errorf("%c message without old tuple", typ)
		}
		return nil
	}
	if len(rest) == 0 || rest[0] != 'N' {
		return fmt.Errorf("%c message: expected new tuple", typ)
	}
	if m.scratch[1], rest, err = decodeTuple(rest[1:], m.scratch[1][:0]); err != nil {
		return fmt.Errorf("%c message new tuple: %w", typ, err)
	}
	m.new, m.hasNew = m.scratch[1], true
	if len(rest) != 0 {
		return fmt.Errorf("%c message: %d trailing bytes", typ, len(rest))
	}
	return nil
}

// decodeTuple appends the columns of a TupleData to cols and returns the
// rest of src.
func decodeTuple(src []byte, cols []tupleCol) ([]tupleCol, []byte, error) {
	if len(src) < 2 {
		return nil, nil, errShort
	}
	n := int(binary.BigEndian.Uint16(src))
	src = src[2:]
	for i := 0; i < n; i++ {
		if len(src) < 1 {
			return nil, nil, errShort
		}
		c := tupleCol{kind: src[0]}
		src = src[1:]
		switch c.kind {
		case pglogrepl.TupleDataTypeNull, pglogrepl.TupleDataTypeToast:
		case pglogrepl.TupleDataTypeText, pglogrepl.TupleDataTypeBinary:
			if len(src) < 4 {
				return nil, nil, errShort
			}
			l := binary.BigEndian.Uint32(src)
			src = src[4:]
			if uint64(l) > uint64(len(src)) {
				return nil, nil, fmt.Errorf("column %d: length %d beyond message end", i, l)
			}
			// Capacity capped so nothing can append into the next column.
			c.data = src[:l:l]
			src = src[l:]
		default:
			return nil, nil, fmt.Errorf("column %d: unknown tuple data type %q", i, c.kind)
		}
		cols = append(cols, c)
	}
	return cols, src, nil
}

// appendLSN formats an LSN as PostgreSQL does (%X/%X), without fmt.
func appendLSN(dst []byte, lsn pglogrepl.LSN) []byte {
	dst = appendHexUpper(dst, uint32(lsn>>32))
	dst = append(dst, '/')
	return appendHexUpper(dst, uint32(lsn))
}

func appendHexUpper(dst []byte, v uint32) []byte {
	const digits = "0123456789ABCDEF"
	var buf [8]byte
	i := len(buf)
	for {
		i--
		buf[i] = digits[v&0xF]
		v >>= 4
		if v == 0 {
			break
		}
	}
	return append(dst, buf[i:]...)
}
