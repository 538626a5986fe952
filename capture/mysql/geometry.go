package mysql

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
)

// ewkbSRIDFlag marks, in the geometry type word of extended WKB (PostGIS's
// EWKB), that a 4-byte SRID follows the type.
const ewkbSRIDFlag = 0x20000000

// geometryValue publishes a spatial value as base64 of standard WKB when its
// SRID is 0 and of EWKB (the SRID after the type word, as PostGIS writes it)
// otherwise. MySQL and MariaDB store a 4-byte little-endian SRID followed by
// WKB; publishing those bytes as they are would hand consumers something no
// WKB reader accepts, and dropping a non-zero SRID would lose part of the
// value.
func geometryValue(b []byte) (string, error) {
	// SRID (4), byte order (1), type (4): the least a geometry holds.
	if len(b) < 9 {
		return "", fmt.Errorf("geometry value of %d bytes: shorter than an SRID and a WKB header", len(b))
	}
	srid, wkb := binary.LittleEndian.Uint32(b[:4]), b[4:]
	if srid == 0 {
		return base64.StdEncoding.EncodeToString(wkb), nil
	}
	var order interface {
		binary.ByteOrder
		binary.AppendByteOrder
	}
	switch wkb[0] {
	case 0:
		order = binary.BigEndian
	case 1:
		order = binary.LittleEndian
	default:
		return "", fmt.Errorf("geometry value: WKB byte order %d is neither 0 nor 1", wkb[0])
	}
	out := make([]byte, 0, len(wkb)+4)
	out = append(out, wkb[0])
	out = order.AppendUint32(out, order.Uint32(wkb[1:5])|ewkbSRIDFlag)
	out = order.AppendUint32(out, srid)
	out = append(out, wkb[5:]...)
	return base64.StdEncoding.EncodeToString(out), nil
}
