package data

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
// separator for NULL. Control characters do not occur in the data worth
// comparing; a value that contains them could in theory make two different
// rows share a row text (the price of evaluating each value only once).
const (
	sepValue = "\x1f"
	sepNull  = "\x1e"
)

// RowHashExpr combines the key and the per-column canonical expressions
// into one row text and hashes it to a non-negative 60-bit integer (15 hex
// digits of MD5), which both engines sum exactly. The key is part of the
// hash so that two rows which swapped their values still differ. NULL is
// written as a control character, so NULL and the empty text differ.
// MariaDB hashes the text as utf8mb4 (a latin1 column would otherwise hash
// other bytes than PostgreSQL's UTF-8).
func RowHashExpr(e Engine, key string, cols []string) string {
	parts := []string{textExpr(e, key)}
	for _, c := range cols {
		parts = append(parts, "COALESCE("+c+", '"+sepNull+"')")
	}
	if e == MySQL {
		row := "CONVERT(CONCAT_WS('" + sepValue + "', " + strings.Join(parts, ", ") + ") USING utf8mb4)"
		// CAST AS UNSIGNED is cheaper than AS DECIMAL; SUM of it is exact.
		return "CAST(CONV(SUBSTRING(MD5(" + row + "), 1, 15), 16, 10) AS UNSIGNED)"
	}
	row := strings.Join(parts, " || '"+sepValue+"' || ")
	return "('x' || lpad(substr(md5(" + row + "), 1, 15), 16, '0'))::bit(64)::bigint"
}
