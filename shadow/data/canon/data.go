// Package canon turns column values from either engine (MariaDB/MySQL or
// PostgreSQL) into one canonical text, so that the same logical value
// compares equal whichever database holds it. Package reconcile hashes the
// canonical text inside the databases (see SQLExpr); package continuous
// applies Canonical to the decoded values of change events. Both must
// agree, which the reconcile tests check against real servers.
package canon

import (
	"fmt"
	"strings"
)

// Engine is the database dialect a value or expression belongs to.
type Engine string

// Engines.
const (
	Postgres Engine = "postgres"
	MySQL    Engine = "mysql"
)

// Kind is the comparison type of a mapped column pair: how both sides'
// values are canonicalised.
type Kind int

// Kinds. The zero value is KindText.
const (
	// KindText compares text exactly (enums are text).
	KindText Kind = iota
	// KindInteger compares whole numbers in decimal.
	KindInteger
	// KindDecimal compares exact decimals with trailing zeros removed.
	KindDecimal
	// KindTimestamp compares instants as UTC with microseconds. Values
	// without a zone (DATETIME, timestamp without time zone) are taken as UTC.
	KindTimestamp
	// KindDate compares calendar dates as YYYY-MM-DD.
	KindDate
	// KindBool compares truth values as 1 and 0.
	KindBool
	// KindJSON compares JSON structurally (key order and spacing ignored).
	KindJSON
	// KindUUID compares UUIDs as lowercase hyphenated hex, whether stored
	// as PostgreSQL uuid, as text (CHAR(36)) or as 16 bytes (BINARY(16)).
	KindUUID
	// KindBinary compares bytes as lowercase hex.
	KindBinary
)

var kindNames = [...]string{"text", "integer", "decimal", "timestamp", "date", "bool", "json", "uuid", "binary"}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// KindOf classifies a column type as information_schema.columns reports it
// (data_type; for PostgreSQL, udt_name is accepted too). Unknown types are
// compared as text.
func KindOf(e Engine, dataType string) Kind {
	t := strings.ToLower(strings.TrimSpace(dataType))
	switch t {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "int2", "int4", "int8", "year":
		return KindInteger
	case "decimal", "numeric":
		return KindDecimal
	case "datetime", "timestamp", "timestamp with time zone", "timestamp without time zone", "timestamptz":
		return KindTimestamp
	case "date":
		return KindDate
	case "boolean", "bool":
		return KindBool
	case "json", "jsonb":
		return KindJSON
	case "uuid":
		return KindUUID
	}
	if Binary(t) {
		return KindBinary
	}
	return KindText
}

// Unify is the kind a pair of columns is compared as: the more specific of
// the two, so that MariaDB TINYINT(1) against PostgreSQL boolean compares as
// bool, LONGTEXT (MariaDB's JSON) against jsonb compares as JSON, and
// CHAR(36) or BINARY(16) against uuid compares as UUID.
func Unify(a, b Kind) Kind {
	rank := func(k Kind) int {
		switch k {
		case KindText:
			return 0
		case KindInteger:
			return 1
		case KindBinary:
			return 2
		}
		return 3
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// Value is a canonical column value. Null is distinct from the empty text.
type Value struct {
	Null bool
	Text string
}

// String shows the value for reports: NULL or the canonical text.
func (v Value) String() string {
	if v.Null {
		return "NULL"
	}
	return v.Text
}

// Rule adjusts legacy values before they are compared with new values.
type Rule struct {
	// Scale multiplies a legacy number exactly (decimal text such as "100"
	// or "0.01"); empty means no scaling.
	Scale string
	// Map replaces whole legacy values; values not in it are kept.
	Map map[string]string
}

// IsZero reports whether the rule changes nothing.
func (r Rule) IsZero() bool { return r.Scale == "" && len(r.Map) == 0 }

// Kind returns the kind a column with this rule compares as: a scaled
// column is decimal whatever its types say.
func (r Rule) Kind(k Kind) Kind {
	if r.Scale != "" && (k == KindText || k == KindInteger) {
		return KindDecimal
	}
	return k
}
