package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// Side is one table of a comparison, queried where it lives. The methods
// below with int64 ranges (inclusive [lo, hi]) serve a key of a single
// integer column; any other key (see Table.KeyColumns) is compared through
// the sides' key-tuple queries (see tuple.go), which MariaDB and Postgres
// implement.
type Side interface {
	// Engine is the side's SQL dialect.
	Engine() canon.Engine
	// Table is what the side compares.
	Table() Table
	// Describe reports the information_schema data type of each mapped
	// column, in Table.Columns order.
	Describe(ctx context.Context) ([]string, error)
	// KeyTypes reports, after Describe, the information_schema data type
	// of each key column, in Table.KeyNames order.
	KeyTypes() []string
	// Prepare fixes how each column is compared; it is called once, after
	// Describe, before any other method.
	Prepare(kinds []canon.Kind) error
	// Bounds returns the smallest and largest key; ok is false for an
	// empty table.
	Bounds(ctx context.Context) (lo, hi int64, ok bool, err error)
	// Estimate is the database's estimate of the table's row count (from
	// its statistics, no scan), to size the first level's ranges.
	Estimate(ctx context.Context) (int64, error)
	// Checksums counts the rows with keys in [lo, hi] and checksums them,
	// in the database, per bucket of step keys: bucket b holds keys
	// lo+b*step .. lo+(b+1)*step-1. Empty buckets are absent. One scan of
	// the range yields every bucket's checksum, so a level of the
	// bisection reads each row once. With Digest, a bucket's checksum is
	// one MD5 over its row texts in key order (cheap, but built in memory:
	// ErrTooLarge when a bucket's text does not fit); otherwise it is the
	// sum of per-row hashes (any size).
	Checksums(ctx context.Context, lo, hi, step int64, m Method) (map[int64]Sum, error)
	// Rows returns the rows with keys in [lo, hi] in key order, values
	// canonical (rules applied on the legacy side).
	Rows(ctx context.Context, lo, hi int64) ([]Row, error)
}

// Method is how Checksums sums a bucket. Both sides must use the same.
type Method int

// Methods.
const (
	Digest Method = iota
	RowSum
)

// ErrTooLarge says a bucket's row texts did not fit the Digest method.
var ErrTooLarge = errors.New("bucket text too large to digest")

// Sum is a range checksum: two ranges with equal sums hold, with
// overwhelming probability, equal rows.
type Sum struct {
	Count int64
	Hash  string // MD5 hex digest, or the decimal sum of 60-bit row hashes
}

// Row is one row's key and canonical column values.
type Row struct {
	// Key is the key of a single integer key column; Tuple, when not nil,
	// is the key of any other key (and Key is then 0).
	Key    int64
	Tuple  canon.Key
	Values []canon.Value
	// Recent: the row was touched within Table.MinAge (it is then left
	// out, with the other side's row of its key).
	Recent bool
}

// Table names a table and the columns compared on one side.
type Table struct {
	// Name is schema.table (for MariaDB/MySQL: database.table); for a
	// query side (Query), a label for messages only.
	Name string
	// Query, when set, is one SELECT in the side's dialect whose result is
	// the side's rows: every query of the side reads it as the derived
	// table "(Query) AS ficus_q", and the key, Columns, Where and
	// UpdatedAt name its output columns. It is checked by CheckQuery when
	// the side is made and planned by the database (EXPLAIN) in Describe.
	Query string `json:",omitempty"` // absent: Fingerprint as before
	// Key is the key column when it is a single one. KeyColumns, when
	// set, are the key columns instead (any number, any key kind; see
	// canon.KeySQL); a key of one integer column on both sides is compared
	// by integer ranges, any other by key tuples.
	Key        string
	KeyColumns []string `json:",omitempty"` // absent: Fingerprint as before

	// Columns are the compared columns, paired by position with the other
	// side's.
	Columns []string
	// Rules adjust the values of Columns (same length, or nil); only the
	// legacy side has rules.
	Rules []canon.Rule
	// Where, when set, is an SQL condition in the side's dialect: only rows
	// that satisfy it are compared. It is checked by CheckWhere when the
	// side is made and planned by the database (EXPLAIN) in Describe, and
	// only ever put, parenthesised, after the WHERE of the side's queries.
	Where string
	// MinAge, when greater than 0, leaves out rows whose UpdatedAt column
	// is more recent than MinAge before the run started, by the database's
	// clock (they are continuous mode's job); rows whose UpdatedAt is NULL
	// are kept. UpdatedAt must then be a date or timestamp column.
	UpdatedAt string
	MinAge    time.Duration
}

// queries is the SQL of one side, built once by Prepare.
type queries struct {
	engine canon.Engine
	bounds string
	// rowText is the row text expression; checksum sums its row hashes per
	// bucket (RowSum). The Digest query is engine-specific (see the sides).
	rowText  string
	checksum string
	rows     string
	// window is " AND (…)" for Table.Where and MinAge, or "": it follows
	// the key range of every checksum query. Row queries have Where
	// only, and select the row's recent flag last when recent is set.
	window string
	recent bool
	raw    []bool // column i is fetched raw and canonicalised in Go
	// hashed and selected are the columns' expressions for the row text
	// and for the rows fetched; nullable says which may be NULL;
	// rowsWhere is " AND (…)" for Table.Where or "". Tuple keys build
	// their queries from them (see tupleQueries).
	hashed, selected []string
	nullable         []bool
	rowsWhere        string
	recentExpr       string
	kinds            []canon.Kind
	rules            []canon.Rule
}

func (t Table) validate(e canon.Engine) error {
	if t.Query != "" {
		if err := CheckQuery(e, t.Query); err != nil {
			return fmt.Errorf("%s: %w", t.Name, err)
		}
	}
	if t.Where != "" {
		if err := CheckWhere(e, t.Where); err != nil {
			return fmt.Errorf("table %q: where: %w", t.Name, err)
		}
	}
	if t.MinAge > 0 && t.UpdatedAt == "" {
		return fmt.Errorf("table %q: min_age needs an updated_at column", t.Name)
	}
	if len(t.KeyNames()) == 0 || len(t.Columns) == 0 {
		return fmt.Errorf("table %q: need a key and at least one column", t.Name)
	}
	if t.Rules != nil && len(t.Rules) != len(t.Columns) {
		return fmt.Errorf("table %q: %d rules for %d columns", t.Name, len(t.Rules), len(t.Columns))
	}
	if _, _, ok := strings.Cut(t.Name, "."); !ok && t.Query == "" {
		return fmt.Errorf("table %q: expected schema.table", t.Name)
	}
	return nil
}

// KeyNames are the key columns: KeyColumns, or Key alone.
func (t Table) KeyNames() []string {
	if len(t.KeyColumns) > 0 {
		return t.KeyColumns
	}
	if t.Key == "" {
		return nil
	}
	return []string{t.Key}
}

// intKey is the single key column when there is one.
func (t Table) intKey() string {
	if k := t.KeyNames(); len(k) == 1 {
		return k[0]
	}
	return ""
}

func (t Table) rule(i int) canon.Rule {
	if t.Rules == nil {
		return canon.Rule{}
	}
	return t.Rules[i]
}

func (t Table) quotedName(e canon.Engine) string {
	if t.Query != "" {
		return "(" + t.Query + ") AS " + queryAlias
	}
	schema, name, _ := strings.Cut(t.Name, ".")
	return canon.QuoteIdent(e, schema) + "." + canon.QuoteIdent(e, name)
}

// describeSQL selects each column's data type, nullability and numeric
// scale, in no particular order.
func (t Table) describeSQL(e canon.Engine) string {
	schema, name, _ := strings.Cut(t.Name, ".")
	q := "SELECT column_name, data_type, is_nullable, COALESCE(numeric_scale, -1) FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
	if e == canon.Postgres {
		q = "SELECT column_name::text, CASE WHEN data_type = 'USER-DEFINED' THEN udt_name::text ELSE data_type::text END, is_nullable::text, COALESCE(numeric_scale, -1)::int FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
	}
	return fmt.Sprintf(q, canon.QuoteString(e, schema), canon.QuoteString(e, name))
}

// describeRow scans one row of describeSQL into got.
func describeRow(scan func(...any) error, got map[string]canon.Column) error {
	var name, typ, nullable string
	var scale int
	if err := scan(&name, &typ, &nullable, &scale); err != nil {
		return err
	}
	got[name] = canon.Column{DataType: typ, Nullable: nullable != "NO", Scale: scale}
	return nil
}

// orderColumns returns what got says of t's compared columns and of its
// key columns, in order.
func orderColumns(t Table, got map[string]canon.Column) (cols, keys []canon.Column, err error) {
	if len(got) == 0 {
		return nil, nil, fmt.Errorf("%s not found", t.label())
	}
	for _, k := range t.KeyNames() {
		key, ok := got[k]
		if !ok {
			return nil, nil, fmt.Errorf("%s has no key column %q", t.label(), k)
		}
		if err := canon.KeyKind(canon.KindOf(canon.Postgres, key.DataType)); err != nil {
			return nil, nil, fmt.Errorf("%s: key column %q (%s): %w", t.label(), k, key.DataType, err)
		}
		keys = append(keys, key)
	}
	out := make([]canon.Column, len(t.Columns))
	for i, c := range t.Columns {
		col, ok := got[c]
		if !ok {
			return nil, nil, fmt.Errorf("%s has no column %q", t.label(), c)
		}
		out[i] = col
	}
	return out, keys, nil
}

// label names t in messages: "table schema.table", or a query side's Name.
func (t Table) label() string {
	if t.IsQuery() {
		return t.Name
	}
	return "table " + t.Name
}

// keyColumns pairs the key names with their types and kinds.
func keyColumns(names []string, cols []canon.Column, kinds []canon.Kind) []canon.KeyColumn {
	out := make([]canon.KeyColumn, len(names))
	for i, n := range names {
		out[i] = canon.KeyColumn{Name: n, Kind: kinds[i], DataType: cols[i].DataType}
	}
	return out
}

func dataTypes(cols []canon.Column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.DataType
	}
	return out
}

func (t Table) prepare(e canon.Engine, kinds []canon.Kind, cols []canon.Column, w window) (*queries, error) {
	if len(kinds) != len(t.Columns) {
		return nil, fmt.Errorf("table %s: %d kinds for %d columns", t.Name, len(kinds), len(t.Columns))
	}
	q := &queries{engine: e, kinds: kinds, raw: make([]bool, len(kinds)), rules: make([]canon.Rule, len(kinds))}
	var rowsWhere string
	if w.all != "" {
		q.window = " AND " + w.all
	}
	if w.where != "" {
		rowsWhere = " AND " + w.where
	}
	if len(cols) != len(t.Columns) {
		return nil, fmt.Errorf("table %s: Prepare before Describe", t.Name)
	}
	var hashed, selected []string
	nullable := make([]bool, len(cols))
	for i, c := range t.Columns {
		col := canon.QuoteIdent(e, c)
		r := t.rule(i)
		q.rules[i] = r
		nullable[i] = cols[i].Nullable
		if expr, ok := canon.SQLExpr(e, kinds[i], col, r); ok {
			h, _ := canon.HashExpr(e, kinds[i], col, r, cols[i])
			hashed = append(hashed, h)
			selected = append(selected, expr)
			continue
		}
		// Not canonicalisable identically in SQL (JSON): hashed as raw text.
		// Equal raw text means equal canonical values, so equal checksums
		// still prove equality; differing ones are settled in Go on the
		// fetched rows, at the cost of reading every range whose text differs.
		q.raw[i] = true
		raw := canon.RawExpr(e, col)
		hashed = append(hashed, raw)
		selected = append(selected, raw)
	}
	q.hashed, q.selected, q.nullable, q.rowsWhere = hashed, selected, nullable, rowsWhere
	key, from := canon.QuoteIdent(e, t.intKey()), t.quotedName(e)
	p1, p2 := "$1", "$2"
	sumText := "COALESCE(SUM(%s), 0)::text"
	bucket := "(" + key + " - $1) / $3"
	if e == canon.MySQL {
		p1, p2 = "?", "?"
		sumText = "CAST(COALESCE(SUM(%s), 0) AS CHAR)"
		// Parameters in order: lo (bucket), step, lo, hi.
		bucket = "(" + key + " - ?) DIV ?"
	}
	q.rowText = canon.RowTextExpr(e, key, hashed, nullable)
	where := fmt.Sprintf(" FROM %s WHERE %s >= %s AND %s <= %s", from, key, p1, key, p2)
	q.bounds = fmt.Sprintf("SELECT MIN(%s), MAX(%s) FROM %s", key, key, from)
	q.checksum = "SELECT " + bucket + ", COUNT(*), " + fmt.Sprintf(sumText, canon.RowHashExpr(e, q.rowText)) + where + q.window + " GROUP BY 1"
	if w.recent != "" {
		q.recent, q.recentExpr = true, w.recent
		selected = append(selected, w.recent)
	}
	q.rows = fmt.Sprintf("SELECT %s, %s%s%s ORDER BY %s", key, strings.Join(selected, ", "), where, rowsWhere, key)
	return q, nil
}

// buckets lists the buckets of [lo, hi] by step keys: index, first and
// last key. The arithmetic is unsigned, so ranges near the ends of int64
// neither overflow nor wrap.
func buckets(lo, hi, step int64) (idx, los, his []int64) {
	for b := int64(0); ; b++ {
		s := task{span{lo, hi}, step}.bucket(b)
		idx, los, his = append(idx, b), append(los, s.lo), append(his, s.hi)
		if s.hi >= hi {
			return idx, los, his
		}
	}
}

// finish canonicalises the raw columns of a fetched row.
func (q *queries) finish(vals []canon.Value) error {
	for i, raw := range q.raw {
		if !raw || vals[i].Null {
			continue
		}
		v, err := canon.Canonical(q.kinds[i], vals[i].Text)
		if err != nil {
			return fmt.Errorf("column %d: %w", i+1, err)
		}
		if v, err = canon.Apply(q.rules[i], v); err != nil {
			return fmt.Errorf("column %d: %w", i+1, err)
		}
		vals[i] = v
	}
	return nil
}
