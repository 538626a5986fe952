package canon

import (
	"fmt"
	"sort"
	"strings"
)

// The expressions below build the canonical text inside the database, so
// that reconcile can hash rows where they are. They assume the session
// time zone is UTC (SET TIME ZONE 'UTC' / SET time_zone = '+00:00') and a
// UTF-8 connection, which the reconcile sides set up.

// QuoteIdent quotes a column or table name part for e.
func QuoteIdent(e Engine, name string) string {
	if e == MySQL {
		return "`" + strings.ReplaceAll(name, "`", "``") + "`"
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// QuoteString quotes a string literal for e. MariaDB treats backslash as an
// escape character by default, PostgreSQL does not.
func QuoteString(e Engine, s string) string {
	s = strings.ReplaceAll(s, "'", "''")
	if e == MySQL {
		s = strings.ReplaceAll(s, `\`, `\\`)
	}
	return "'" + s + "'"
}

// SQLExpr returns an SQL expression of engine e giving the canonical text
// (or NULL) of column expression col compared as kind k, with rule r
// applied (pass the zero Rule for the new side). ok is false when the kind
// cannot be canonicalised identically in SQL on both engines (JSON); the
// caller then fetches the raw text (RawExpr) and uses Canonical.
func SQLExpr(e Engine, k Kind, col string, r Rule) (expr string, ok bool) {
	k = r.Kind(k)
	switch k {
	case KindJSON:
		return "", false
	case KindDecimal:
		if r.Scale != "" {
			if _, err := ParseDecimal(r.Scale); err != nil {
				return "", false
			}
		}
		expr = decimalExpr(e, col, r.Scale)
	case KindInteger:
		expr = textExpr(e, col)
	case KindTimestamp:
		if e == MySQL {
			expr = "DATE_FORMAT(" + col + ", '%Y-%m-%d %H:%i:%s.%f')"
		} else {
			expr = "to_char(" + col + ", 'YYYY-MM-DD HH24:MI:SS.US')"
		}
	case KindDate:
		if e == MySQL {
			expr = "DATE_FORMAT(" + col + ", '%Y-%m-%d')"
		} else {
			expr = "to_char(" + col + ", 'YYYY-MM-DD')"
		}
	case KindUUID:
		expr = uuidExpr(e, col)
	case KindBinary:
		if e == MySQL {
			expr = "LOWER(HEX(" + col + "))"
		} else {
			expr = "encode(" + col + "::bytea, 'hex')"
		}
	case KindBool:
		cast := col + "::int"
		if e == MySQL {
			cast = col
		}
		expr = fmt.Sprintf("CASE WHEN %s IS NULL THEN NULL WHEN %s <> 0 THEN '1' ELSE '0' END", col, cast)
	default:
		expr = textExpr(e, col)
	}
	return mapExpr(e, expr, r.Map), true
}

// uuidExpr is the canonical UUID text: PostgreSQL's uuid text is already
// lowercase; on MariaDB a 16-byte value (BINARY(16)) is formatted from its
// hex, any other (CHAR(36), MariaDB's UUID type) lowercased.
func uuidExpr(e Engine, col string) string {
	if e == Postgres {
		return "lower(" + col + "::text)"
	}
	// One HEX of the 16 bytes, hyphens inserted after hex digits 8, 12, 16
	// and 20.
	return "CASE WHEN LENGTH(" + col + ") = 16 THEN LOWER(INSERT(INSERT(INSERT(INSERT(HEX(" + col +
		"), 9, 0, '-'), 14, 0, '-'), 19, 0, '-'), 24, 0, '-')) ELSE LOWER(CAST(" + col + " AS CHAR)) END"
}

// RawExpr returns col as text, for kinds canonicalised in Go.
func RawExpr(e Engine, col string) string { return textExpr(e, col) }

func textExpr(e Engine, col string) string {
	if e == MySQL {
		return "CAST(" + col + " AS CHAR)"
	}
	return col + "::text"
}

// decimalExpr multiplies by scale in exact decimal arithmetic (both engines
// keep every digit of a DECIMAL/numeric product) and trims trailing zeros.
// MariaDB has no trim_scale: the value is cast to DECIMAL(65,30), whose text
// always has a decimal point, so trimming zeros and then the point is right
// for every value and evaluates the column once. (DECIMAL scales above 30
// do not exist in MySQL; MariaDB allows 38, and digits past 30 are rounded.)
func decimalExpr(e Engine, col, scale string) string {
	if e == MySQL {
		v := col
		if scale != "" {
			v = "(" + col + " * " + scale + ")"
		}
		return "TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM CAST(" + v + " AS DECIMAL(65,30))))"
	}
	v := col + "::numeric"
	if scale != "" {
		v = "(" + v + " * " + scale + "::numeric)"
	}
	return "trim_scale(" + v + ")::text"
}

// mapExpr replaces whole values. MariaDB compares strings with the column
// collation, usually case-insensitive; comparing as binary keeps the map
// exact as it is in Go.
func mapExpr(e Engine, expr string, m map[string]string) string {
	if len(m) == 0 {
		return expr
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	subject := expr
	if e == MySQL {
		subject = "CAST(" + expr + " AS BINARY)"
	}
	b.WriteString("CASE " + subject)
	for _, k := range keys {
		fmt.Fprintf(&b, " WHEN %s THEN %s", QuoteString(e, k), QuoteString(e, m[k]))
	}
	b.WriteString(" ELSE " + expr + " END")
	return b.String()
}

// Row text separators: the unit separator between values, the record
// separator for NULL, the group separator between rows. Control characters
// do not occur in the data worth comparing; a value that contains them
// could in theory make two different rows share a row text (the price of
// evaluating each value only once).
const (
	sepValue = "\x1f"
	sepNull  = "\x1e"
	sepRow   = "\x1d"
)

// Column is what the database says of a column, beyond its kind.
type Column struct {
	// DataType is information_schema's data_type.
	DataType string
	// Nullable is information_schema's is_nullable.
	Nullable bool
	// Scale is information_schema's numeric_scale, -1 when it has none.
	Scale int
}

// HashExpr is like SQLExpr but only for hashing (the row text of
// reconcile's checksums), where a cheaper expression gives the same text
// for the column's own type: no cast for text and integers, and on
// MariaDB no DECIMAL(65,30) round trip for a DECIMAL with a scale (its
// text always has a point, so trailing zeros can be trimmed directly).
// Rows are fetched with SQLExpr; both give the same canonical text.
func HashExpr(e Engine, k Kind, col string, r Rule, c Column) (string, bool) {
	k = r.Kind(k)
	own := KindOf(e, c.DataType)
	var expr string
	switch {
	case e == MySQL && len(r.Map) > 0:
		// The map compares bytes: they must be the connection's UTF-8,
		// not a latin1 column's own, so the value goes through CAST.
		return SQLExpr(e, k, col, r)
	case (k == KindText || k == KindInteger) && own == k:
		expr = col
		if e == Postgres {
			expr = col + "::text"
		}
	case k == KindDecimal && own == KindDecimal && e == MySQL && c.Scale > 0 && validScale(r.Scale):
		v := col
		if r.Scale != "" {
			v = "(" + col + " * " + r.Scale + ")"
		}
		expr = "TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM " + v + "))"
	case k == KindDecimal && own == KindInteger && e == Postgres && r.Scale == "":
		expr = col + "::text"
	default:
		return SQLExpr(e, k, col, r)
	}
	return mapExpr(e, expr, r.Map), true
}

func validScale(s string) bool {
	if s == "" {
		return true
	}
	_, err := ParseDecimal(s)
	return err == nil
}

// RowTextExpr joins the key and the per-column canonical expressions into
// one row text. The key is part of it so that two rows which swapped their
// values still differ. NULL is written as a control character, so NULL and
// the empty text differ (CONCAT_WS skips NULLs: a column that cannot be
// NULL needs no COALESCE). On MariaDB the key's text is in the
// connection's utf8mb4, and CONCAT_WS converts latin1 (or any other
// charset's) columns to it, so the bytes hashed are PostgreSQL's UTF-8
// (the reconcile tests check a latin1 column against PostgreSQL).
func RowTextExpr(e Engine, key string, cols []string, nullable []bool) string {
	return RowTextExprKey([]string{textExpr(e, key)}, cols, nullable)
}

// RowTextExprKey is RowTextExpr for a key of any kind and any number of
// columns: keyTexts are the key columns' canonical text expressions
// (KeySQL.Texts), never NULL.
func RowTextExprKey(keyTexts, cols []string, nullable []bool) string {
	parts := append([]string(nil), keyTexts...)
	for i, c := range cols {
		if len(nullable) == 0 || nullable[i] {
			c = "COALESCE(" + c + ", '" + sepNull + "')"
		}
		parts = append(parts, c)
	}
	return "CONCAT_WS('" + sepValue + "', " + strings.Join(parts, ", ") + ")"
}

// RowHashExpr hashes a row text (RowTextExpr) to a non-negative 60-bit
// integer (15 hex digits of SHA-256), which both engines sum exactly: the
// checksum of ranges whose rows are summed one by one. SHA-256, not MD5:
// MariaDB's per-row MD5 costs about as much as building the row text
// (1M rows: +0.65 s), its SHA2 almost nothing, and PostgreSQL's sha256
// is as cheap as its md5.
func RowHashExpr(e Engine, rowText string) string {
	if e == MySQL {
		// CAST AS UNSIGNED is cheaper than AS DECIMAL; SUM of it is exact.
		return "CAST(CONV(SUBSTRING(SHA2(" + rowText + ", 256), 1, 15), 16, 10) AS UNSIGNED)"
	}
	// The first 8 bytes in hex, cut to 60 bits by the cast. textsend
	// gives the text's bytes in the client encoding, which is UTF-8 for
	// every ficus connection (pgx insists on it) whatever the database's:
	// the bytes MariaDB hashes, without convert_to's validating copy.
	return "('x' || encode(substring(sha256(textsend(" + rowText + ")) FROM 1 FOR 8), 'hex'))::bit(60)::bigint"
}

// DigestExpr is an aggregate: the MD5 of a group's row texts in key order,
// joined by a control character. One MD5 over a long text costs far less
// than one per row and its hex parsing, but the group's text is built in
// memory, so groups must stay small (and MariaDB's group_concat_max_len
// must hold them). key orders the rows where the scan may not (empty:
// the caller's scan is already in key order).
func DigestExpr(e Engine, rowText, orderBy string) string {
	order := ""
	if orderBy != "" {
		order = " ORDER BY " + orderBy
	}
	if e == MySQL {
		return "MD5(GROUP_CONCAT(" + rowText + order + " SEPARATOR '" + sepRow + "'))"
	}
	return "md5(string_agg(" + rowText + ", '" + sepRow + "'" + order + "))"
}
