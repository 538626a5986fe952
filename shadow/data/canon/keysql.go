package canon

import (
	"fmt"
	"strings"
)

// KeyColumn is one key column of one side: its name, the kind both sides'
// columns compare as (Unify) and this side's own information_schema type.
type KeyColumn struct {
	Name     string
	Kind     Kind
	DataType string
	// OwnOrder (MariaDB/MySQL text and UUID kinds; PostgreSQL text kind
	// in a text or varchar column): the side verified that the column's
	// own collation orders every value it holds as CompareKeys does, so
	// the column itself is the order expression and an index on it serves
	// ranges. Only the side can know (the collation, and for UUID texts
	// that every value is well-formed: see Check).
	OwnOrder bool
}

// KeySQL is the SQL of a key on one engine: the canonical text of each key
// column, and order expressions whose SQL order is CompareKeys' order, so
// that a range of keys holds the same keys on both engines and in Go.
// Range boundaries are canonical texts passed as parameters (Params),
// never written into the SQL.
//
//   - integer, decimal: the column, against the parameter cast to a number;
//   - text: PostgreSQL col::text COLLATE "C" (byte order of the UTF-8
//     text), MariaDB CAST(CONVERT(col USING utf8mb4) AS BINARY): never a
//     collation that is not byte order, so 'a' and 'A' are different keys.
//     Both order by the column itself where its side set OwnOrder (a
//     byte-order collation); else on PostgreSQL an index on the
//     expression can serve;
//   - UUID: PostgreSQL uuid and MariaDB BINARY(16) columns by their 16
//     bytes (the order of the lowercase hex text; an index can serve), text
//     columns by their lowercased text as bytes (MariaDB: the column itself
//     where OwnOrder);
//   - binary: the bytes; date and timestamp: the value (session time zone
//     UTC, as the canonical texts assume).
type KeySQL struct {
	e      Engine
	cols   []KeyColumn
	texts  []string // canonical text per column
	hashes []string // cheaper text per column for row texts (HashTexts)
	sorts  []string // order expression per column
	params []string // placeholder per column: "%s" is where the parameter goes
}

// NewKeySQL builds the key SQL of cols on engine e.
func NewKeySQL(e Engine, cols []KeyColumn) (*KeySQL, error) {
	k := &KeySQL{e: e, cols: cols}
	for _, c := range cols {
		if err := KeyKind(c.Kind); err != nil {
			return nil, fmt.Errorf("key column %q: %w", c.Name, err)
		}
		col := QuoteIdent(e, c.Name)
		text, _ := SQLExpr(e, c.Kind, col, Rule{})
		sort, param := keyOrder(e, c, col, text)
		k.texts = append(k.texts, text)
		k.hashes = append(k.hashes, hashText(e, c, col, text))
		k.sorts = append(k.sorts, sort)
		k.params = append(k.params, param)
	}
	return k, nil
}

// keyOrder is a key column's order expression and its parameter's
// placeholder. The column itself (an index can serve) when its own type
// orders as the kind does; otherwise numbers through a numeric cast and
// everything else through its canonical text's bytes, which order as the
// kind does (fixed-width dates and timestamps, lowercase hex).
func keyOrder(e Engine, c KeyColumn, col, text string) (sort, param string) {
	own := strings.ToLower(strings.TrimSpace(c.DataType))
	ownKind := KindOf(e, own)
	numeric := ownKind == KindInteger || ownKind == KindDecimal
	if e == Postgres {
		switch {
		case c.OwnOrder && c.Kind == KindText && (own == "text" || own == "character varying"):
			// A byte-order collation: the parameter takes the column's
			// (a parameter's default collation is the weaker).
			return col, "%s::text"
		case c.Kind == KindInteger && ownKind == KindInteger:
			return col, "%s::text::bigint"
		case c.Kind == KindInteger || c.Kind == KindDecimal:
			if numeric {
				return col, "%s::text::numeric"
			}
			return "(" + col + ")::numeric", "%s::text::numeric"
		case c.Kind == KindUUID && own == "uuid":
			return col, "%s::text::uuid"
		case c.Kind == KindBinary && ownKind == KindBinary:
			return col, "decode(%s::text, 'hex')"
		case c.Kind == KindDate && own == "date":
			return col, "%s::text::date"
		case c.Kind == KindTimestamp && (own == "timestamp with time zone" || own == "timestamptz"):
			return col, "%s::text::timestamptz"
		case c.Kind == KindTimestamp && (own == "timestamp without time zone" || own == "timestamp"):
			return col, "%s::text::timestamp"
		}
		return "(" + text + ") COLLATE \"C\"", "%s::text"
	}
	switch {
	case c.OwnOrder && (c.Kind == KindText || c.Kind == KindUUID && !Binary(own)):
		// The parameter as the connection's UTF-8 text: the column's
		// collation decides the comparison (a literal's is weaker), and
		// an index on the column serves it.
		return col, "%s"
	case c.Kind == KindInteger && ownKind == KindInteger:
		return col, "CAST(%s AS DECIMAL(65,0))"
	case c.Kind == KindInteger || c.Kind == KindDecimal:
		if numeric {
			return col, "CAST(%s AS DECIMAL(65,30))"
		}
		return "CAST(" + col + " AS DECIMAL(65,30))", "CAST(%s AS DECIMAL(65,30))"
	case (c.Kind == KindUUID || c.Kind == KindBinary) && Binary(own):
		if c.Kind == KindUUID {
			return col, "UNHEX(REPLACE(%s, '-', ''))"
		}
		return col, "UNHEX(%s)"
	case c.Kind == KindDate && own == "date":
		return col, "CAST(%s AS DATE)"
	case c.Kind == KindTimestamp && (own == "datetime" || own == "timestamp"):
		return col, "CAST(%s AS DATETIME(6))"
	case c.Kind == KindText:
		return "CAST(CONVERT(" + col + " USING utf8mb4) AS BINARY)", "CAST(%s AS BINARY)"
	}
	return "CAST(" + text + " AS BINARY)", "CAST(%s AS BINARY)"
}

// Indexed reports whether every order expression is the column itself,
// so that a range of keys can be read from an index on the key columns.
func (k *KeySQL) Indexed() bool {
	for i, c := range k.cols {
		if k.sorts[i] != QuoteIdent(k.e, c.Name) {
			return false
		}
	}
	return true
}

// WithOwnOrder is the key SQL of the same columns with OwnOrder set
// where own says so (see KeyColumn.OwnOrder).
func (k *KeySQL) WithOwnOrder(own []bool) (*KeySQL, error) {
	if len(own) != len(k.cols) {
		return nil, fmt.Errorf("%d own orders for %d key columns", len(own), len(k.cols))
	}
	cols := append([]KeyColumn(nil), k.cols...)
	for i := range cols {
		cols[i].OwnOrder = own[i]
	}
	return NewKeySQL(k.e, cols)
}

// Orders are the order expressions of the key columns, in key order:
// what an index must hold, column by column, to serve key ranges.
func (k *KeySQL) Orders() []string { return k.sorts }

// Kinds are the key columns' kinds.
func (k *KeySQL) Kinds() []Kind {
	out := make([]Kind, len(k.cols))
	for i, c := range k.cols {
		out[i] = c.Kind
	}
	return out
}

// Check refuses a key, read from the database, that the key SQL cannot
// place in key order: a UUID text column ordered by its own
// case-insensitive collation (OwnOrder) orders well-formed UUIDs only,
// so any other text there (written after the side checked the column)
// would sit elsewhere in the database's order than in CompareKeys'. The
// value is not quoted: keys reach logs through errors.
func (k *KeySQL) Check(key Key) error {
	for i, c := range k.cols {
		if c.OwnOrder && c.Kind == KindUUID && i < len(key) && !canonicalUUIDText(key[i]) {
			return fmt.Errorf("key column %q holds a value that is not a UUID (not shown): its collation does not order it as the canonical key order does", c.Name)
		}
	}
	return nil
}

// canonicalUUIDText reports whether s is a UUID's canonical text:
// lowercase hex digits with hyphens after digits 8, 12, 16 and 20.
func canonicalUUIDText(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}

// hashText is a key column's text for hashing: the same on both engines
// for equal keys, like the canonical text, but cheaper where that costs: a
// UUID as its 32 lowercase hex digits (MariaDB formats BINARY(16) with one
// HEX), an integer column as itself on MariaDB (CONCAT_WS writes it as
// CAST AS CHAR would).
func hashText(e Engine, c KeyColumn, col, text string) string {
	own := strings.ToLower(strings.TrimSpace(c.DataType))
	switch {
	case c.Kind == KindUUID && e == MySQL && Binary(own):
		return "LOWER(HEX(" + col + "))"
	case c.Kind == KindUUID && e == MySQL:
		return "LOWER(REPLACE(CAST(" + col + " AS CHAR), '-', ''))"
	case c.Kind == KindUUID && own == "uuid":
		// The 16 bytes in hex: uuid_out and a replace cost twice as much.
		return "encode(uuid_send(" + col + "), 'hex')"
	case c.Kind == KindUUID:
		return "lower(replace(" + col + "::text, '-', ''))"
	case c.Kind == KindInteger && e == MySQL && KindOf(e, own) == KindInteger:
		return col
	}
	return text
}

// HashTexts are the key columns' texts for row texts that are hashed and
// never shown: equal on both engines exactly when the canonical texts are.
func (k *KeySQL) HashTexts() []string { return k.hashes }

// Columns are the key columns, quoted.
func (k *KeySQL) Columns() []string {
	out := make([]string, len(k.cols))
	for i, c := range k.cols {
		out[i] = QuoteIdent(k.e, c.Name)
	}
	return out
}

// Texts are the canonical text expressions of the key columns.
func (k *KeySQL) Texts() []string { return k.texts }

// OrderBy is the ORDER BY list of key order.
func (k *KeySQL) OrderBy() string { return strings.Join(k.sorts, ", ") }

// NotNull is the condition that no key column is NULL: rows with a NULL
// key column have no place in the key order and are never compared.
func (k *KeySQL) NotNull() string {
	conds := make([]string, len(k.cols))
	for i, c := range k.cols {
		conds[i] = QuoteIdent(k.e, c.Name) + " IS NOT NULL"
	}
	return strings.Join(conds, " AND ")
}

// Params collects query parameters in the order their placeholders are
// written, numbering them for PostgreSQL.
type Params struct {
	e    Engine
	Args []any
}

// NewParams starts an empty parameter list of engine e.
func NewParams(e Engine) *Params { return &Params{e: e} }

// Add adds a parameter (an array, say) and returns its placeholder.
func (p *Params) Add(v any) string { return p.add(v) }

func (p *Params) add(v any) string {
	p.Args = append(p.Args, v)
	if p.e == Postgres {
		return fmt.Sprintf("$%d", len(p.Args))
	}
	return "?"
}

// Compare is the condition "key op bound" (op one of <, <=, >, >=) as a
// row comparison, with bound's texts as parameters of p. Write the
// conditions in the order of the SQL text: MariaDB's parameters are
// positional.
func (k *KeySQL) Compare(p *Params, op string, bound Key) string {
	// MariaDB/MySQL use an index for a row comparison only through a
	// condition on its first column: the same bound, that column alone
	// (PostgreSQL plans row comparisons on an index itself).
	lead := ""
	if len(bound) > 1 && k.e == MySQL && k.sorts[0] == QuoteIdent(k.e, k.cols[0].Name) {
		lead = fmt.Sprintf(k.params[0], p.add(bound[0]))
	}
	vals := make([]string, len(bound))
	for i, v := range bound {
		vals[i] = fmt.Sprintf(k.params[i], p.add(v))
	}
	return k.compare(op, vals, lead)
}

// CompareExprs is Compare against SQL expressions giving the bound's
// canonical texts (a LATERAL query's outer columns, say) instead of
// parameters. A key of several columns is also compared on its first
// column alone: PostgreSQL estimates a row comparison with values it
// cannot see as a third of the table, enough to plan a scan of all of it,
// where a range on one column is estimated narrow.
func (k *KeySQL) CompareExprs(op string, exprs []string) string {
	vals := make([]string, len(exprs))
	for i, e := range exprs {
		vals[i] = fmt.Sprintf(k.params[i], e)
	}
	lead := ""
	if len(vals) > 1 {
		lead = vals[0]
	}
	return k.compare(op, vals, lead)
}

// compare is "key op (vals)"; lead, when set, is the first column's bound
// compared with that column alone first.
func (k *KeySQL) compare(op string, vals []string, lead string) string {
	if len(vals) == 1 {
		return k.sorts[0] + " " + op + " " + vals[0]
	}
	row := "(" + strings.Join(k.sorts, ", ") + ") " + op + " (" + strings.Join(vals, ", ") + ")"
	if lead == "" {
		return row
	}
	first := strings.TrimSuffix(op, "=") + "="
	return "(" + k.sorts[0] + " " + first + " " + lead + " AND " + row + ")"
}
