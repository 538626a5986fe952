package binlog8

import (
	"encoding/binary"
)

// Column type codes (field_types.h) used by the fixtures.
const (
	TypeLong       = 3
	TypeLongLong   = 8
	TypeVarchar    = 15
	TypeTimestamp2 = 17
	TypeDatetime2  = 18
	TypeJSON       = 245
	TypeNewDecimal = 246
	TypeEnum       = 247
	TypeSet        = 248
	TypeBlob       = 252
	TypeString     = 254
)

// Column is one column of a table map, with what binlog_row_metadata=FULL
// records about it.
type Column struct {
	Name      string
	Type      byte   // as stored in the table map (ENUM and SET are TypeString)
	Meta      []byte // type metadata exactly as in the table map
	Nullable  bool
	Unsigned  bool     // numeric columns only
	Collation uint64   // character columns only (0 = not one)
	Enum, Set []string // labels
}

// Column constructors for the types the fixtures use.

// LongLong is a BIGINT column.
func LongLong(name string, unsigned bool) Column {
	return Column{Name: name, Type: TypeLongLong, Unsigned: unsigned}
}

// Long is an INT column.
func Long(name string) Column { return Column{Name: name, Type: TypeLong} }

// NewDecimal is a DECIMAL(precision, scale) column.
func NewDecimal(name string, precision, scale byte) Column {
	return Column{Name: name, Type: TypeNewDecimal, Meta: []byte{precision, scale}}
}

// Datetime2 is a DATETIME column with fsp fractional-second digits.
func Datetime2(name string, fsp byte) Column {
	return Column{Name: name, Type: TypeDatetime2, Meta: []byte{fsp}}
}

// Timestamp2 is a TIMESTAMP column with fsp fractional-second digits.
func Timestamp2(name string, fsp byte) Column {
	return Column{Name: name, Type: TypeTimestamp2, Meta: []byte{fsp}}
}

// EnumCol is an ENUM of up to 255 labels (pack length 1).
func EnumCol(name string, labels ...string) Column {
	return Column{Name: name, Type: TypeString, Meta: []byte{TypeEnum, 1}, Enum: labels}
}

// SetCol is a SET of up to 8 labels (pack length 1).
func SetCol(name string, labels ...string) Column {
	return Column{Name: name, Type: TypeString, Meta: []byte{TypeSet, 1}, Set: labels}
}

// Varchar is a VARCHAR column; maxBytes is the column's maximum length in bytes (chars x 4 for utf8mb4).
func Varchar(name string, maxBytes uint16, collation uint64) Column {
	return Column{Name: name, Type: TypeVarchar, Meta: binary.LittleEndian.AppendUint16(nil, maxBytes), Collation: collation}
}

// Blob is a BLOB or TEXT column; packLen 1 TINY, 2 BLOB/TEXT, 3 MEDIUM, 4 LONG; collation 63 is binary.
func Blob(name string, packLen byte, collation uint64) Column {
	return Column{Name: name, Type: TypeBlob, Meta: []byte{packLen}, Collation: collation}
}

// JSONCol is a JSON column (pack length 4).
func JSONCol(name string) Column { return Column{Name: name, Type: TypeJSON, Meta: []byte{4}} }

func (c Column) numeric() bool {
	switch c.Type {
	case TypeLong, TypeLongLong, TypeNewDecimal:
		return true
	}
	return false
}

func (c Column) character() bool { return c.Collation != 0 }

// Table describes a TABLE_MAP_EVENT.
type Table struct {
	ID         uint64
	Schema     string
	Name       string
	Columns    []Column
	PrimaryKey []int
}

// Optional metadata field types (Table_map_log_event::Optional_metadata_field_type).
const (
	optSignedness          = 1
	optDefaultCharset      = 2
	optColumnName          = 4
	optSetStrValue         = 5
	optEnumStrValue        = 6
	optSimplePrimaryKey    = 8
	optEnumSetDefaultChars = 10
	optColumnVisibility    = 12
)

// TableMap encodes t as 8.0 writes it with binlog_row_metadata=FULL.
func (t Table) TableMap() []byte {
	b := appendTableID(nil, t.ID)
	b = binary.LittleEndian.AppendUint16(b, 1) // TM_BIT_LEN_EXACT_F
	b = append(b, byte(len(t.Schema)))
	b = append(append(b, t.Schema...), 0)
	b = append(b, byte(len(t.Name)))
	b = append(append(b, t.Name...), 0)
	b = AppendPackedInt(b, uint64(len(t.Columns)))
	var meta []byte
	nullable := make([]bool, len(t.Columns))
	for i, c := range t.Columns {
		b = append(b, c.Type)
		meta = append(meta, c.Meta...)
		nullable[i] = c.Nullable
	}
	b = appendPackedString(b, string(meta))
	b = append(b, bitmapLSB(nullable)...)
	return append(b, t.optionalMetadata()...)
}

func (t Table) optionalMetadata() []byte {
	var b []byte
	field := func(typ byte, v []byte) {
		b = append(b, typ)
		b = appendPackedString(b, string(v))
	}
	// Signedness: one bit per numeric column, most significant first.
	var signed []bool
	for _, c := range t.Columns {
		if c.numeric() {
			signed = append(signed, c.Unsigned)
		}
	}
	field(optSignedness, bitmapMSB(signed))
	// Default charset: the most used collation, then (index among character
	// columns, collation) for the others.
	var chars []uint64
	for _, c := range t.Columns {
		if c.character() {
			chars = append(chars, c.Collation)
		}
	}
	def := mostUsed(chars)
	v := AppendPackedInt(nil, def)
	for i, coll := range chars {
		if coll != def {
			v = AppendPackedInt(AppendPackedInt(v, uint64(i)), coll)
		}
	}
	field(optDefaultCharset, v)
	v = nil
	for _, c := range t.Columns {
		v = append(append(v, byte(len(c.Name))), c.Name...)
	}
	field(optColumnName, v)
	strValues := func(typ byte, labels func(Column) []string) {
		var v []byte
		for _, c := range t.Columns {
			if l := labels(c); l != nil {
				v = AppendPackedInt(v, uint64(len(l)))
				for _, s := range l {
					v = appendPackedString(v, s)
				}
			}
		}
		if v != nil {
			field(typ, v)
		}
	}
	strValues(optSetStrValue, func(c Column) []string { return c.Set })
	strValues(optEnumStrValue, func(c Column) []string { return c.Enum })
	if len(t.PrimaryKey) > 0 {
		v = nil
		for _, k := range t.PrimaryKey {
			v = AppendPackedInt(v, uint64(k))
		}
		field(optSimplePrimaryKey, v)
	}
	field(optEnumSetDefaultChars, AppendPackedInt(nil, 255))
	visible := make([]bool, len(t.Columns))
	for i := range visible {
		visible[i] = true
	}
	field(optColumnVisibility, bitmapMSB(visible))
	return b
}

func mostUsed(v []uint64) uint64 {
	count := map[uint64]int{}
	best := uint64(255)
	for _, x := range v {
		count[x]++
		if count[x] > count[best] || (count[x] == count[best] && x < best) {
			best = x
		}
	}
	return best
}

// FlagStmtEnd is the rows event flag that marks the last event of a statement.
const FlagStmtEnd = 0x0001

// Rows encodes a v2 rows event of every column (binlog_row_image=FULL). A
// row is one value per column, nil for NULL, each encoded with the value
// functions; an update has before and after rows alternating.
func Rows(tableID uint64, flags uint16, columns int, update bool, rows ...[][]byte) []byte {
	b := appendTableID(nil, tableID)
	b = binary.LittleEndian.AppendUint16(b, flags)
	b = binary.LittleEndian.AppendUint16(b, 2) // no extra row info
	b = AppendPackedInt(b, uint64(columns))
	all := make([]bool, columns)
	for i := range all {
		all[i] = true
	}
	b = append(b, bitmapLSB(all)...)
	if update {
		b = append(b, bitmapLSB(all)...)
	}
	for _, row := range rows {
		nulls := make([]bool, len(row))
		for i, v := range row {
			nulls[i] = v == nil
		}
		b = append(b, bitmapLSB(nulls)...)
		for _, v := range row {
			b = append(b, v...)
		}
	}
	return b
}

func appendTableID(b []byte, id uint64) []byte {
	return append(b, byte(id), byte(id>>8), byte(id>>16), byte(id>>24), byte(id>>32), byte(id>>40))
}

func bitmapLSB(bits []bool) []byte {
	b := make([]byte, (len(bits)+7)/8)
	for i, set := range bits {
		if set {
			b[i/8] |= 1 << (i % 8)
		}
	}
	return b
}

func bitmapMSB(bits []bool) []byte {
	b := make([]byte, (len(bits)+7)/8)
	for i, set := range bits {
		if set {
			b[i/8] |= 0x80 >> (i % 8)
		}
	}
	return b
}
