package mysql

import (
	"unicode/utf8"
)

// latin1Collations are the collation ids of MySQL/MariaDB's latin1
// character set, whose column values the binlog carries as raw bytes (the
// snapshot reads them converted to utf8mb4 by the server).
var latin1Collations = map[int]bool{5: true, 8: true, 15: true, 31: true, 47: true, 48: true, 49: true, 94: true}

// cp1252High is what MySQL's latin1 (which is Windows-1252, with the five
// bytes 1252 leaves undefined mapped to the C1 controls) decodes bytes
// 0x80 to 0x9F to; every other byte is the code point of its value.
var cp1252High = [32]rune{
	0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
	0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
}

// latin1ToUTF8 converts a latin1 column value as the server converts it for
// a utf8mb4 connection.
func latin1ToUTF8(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	out := make([]byte, 0, len(s)*2)
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case b < utf8.RuneSelf:
			out = append(out, b)
		case b < 0xA0:
			out = utf8.AppendRune(out, cp1252High[b-0x80])
		default:
			out = utf8.AppendRune(out, rune(b))
		}
	}
	return string(out)
}
