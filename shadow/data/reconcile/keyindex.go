package reconcile

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// A key tuple's ranges are bounded by Throttle.MaxQuery only where both
// sides read them from an index in canonical key order (walksTuples); a
// key ordered by an expression no index holds is read by a scan of the
// whole table whatever the range. Before the run, each side learns from
// its database whether that is so (tupleIndex). A text key column whose
// collation is proven to order as the canonical texts' bytes do is
// ordered by the column itself (PostgreSQL byteOrder, MariaDB
// mariaOwnOrder, which also takes UUID texts under a case-insensitive
// collation), so an index on it serves; PostgreSQL's planner can also
// serve the canonical-text expression from an index on it. Either way
// the key order and the key texts stay canon's: only which SQL
// expression of that order is named changes. The database's own plan
// then says whether an index gives the order. Where none does, the run
// says why and which DDL would make it so; ficus never runs DDL.

// keyAdvice is why a side's key ranges are not read from an index in key
// order, and the DDL that would make them so ("" when none is known).
type keyAdvice struct{ why, ddl string }

// indexKeys lets each side learn how its key is read (see tupleIndex)
// and, with Throttle.MaxQuery, logs once per side what stops the ranges
// from being bounded.
func (r *run) indexKeys(ctx context.Context) error {
	bounded := r.cfg.Throttle.MaxQuery > 0
	for _, s := range []struct {
		name string
		side Side
	}{{"legacy", r.cfg.Legacy}, {"new", r.cfg.New}} {
		ts, ok := s.side.(tupleSide)
		if !ok {
			return errors.New("reconcile: these sides cannot compare a key tuple")
		}
		a, err := ts.tupleIndex(ctx, bounded)
		if err != nil {
			return err
		}
		if a == nil || !bounded {
			continue
		}
		attrs := []any{"side", s.name, "table", s.side.Table().Name, "why", a.why}
		if a.ddl != "" {
			attrs = append(attrs, "fix", a.ddl)
		}
		r.log.Warn("max_query_seconds cannot bound this key's ranges: each level scans the whole table", attrs...)
	}
	return nil
}

// planNode is a node of EXPLAIN (FORMAT JSON)'s plan.
type planNode struct {
	NodeType string     `json:"Node Type"`
	Plans    []planNode `json:"Plans"`
}

// walk reports whether the plan sorts anywhere and whether it reads an
// index.
func (n planNode) walk() (sorts, index bool) {
	switch n.NodeType {
	case "Sort", "Incremental Sort":
		sorts = true
	case "Index Scan", "Index Only Scan":
		index = true
	}
	for _, c := range n.Plans {
		s, i := c.walk()
		sorts, index = sorts || s, index || i
	}
	return sorts, index
}

// tupleIndex implements tupleSide: a text key column whose collation is
// byte order is ordered by the column itself (byteOrder); a key whose
// order expressions are still not all bare columns (text under COLLATE
// "C", a UUID kept as text, …) is read from an index when the planner
// answers the first key in key order from one without sorting: an index
// on the very expressions ficus orders by (or an explicitly "C" column's
// own: the planner sees through the COLLATE). The range conditions
// (KeySQL.Compare) are written with the same expressions, so the same
// index serves them.
func (p *Postgres) tupleIndex(ctx context.Context, _ bool) (*keyAdvice, error) {
	p.keyIndexed = false
	if p.tq.key.Indexed() {
		return nil, nil
	}
	if !p.cfg.Table.IsQuery() {
		own, err := p.byteOrder(ctx)
		if err != nil {
			return nil, fmt.Errorf("table %s: collations of the key: %w", p.cfg.Table.Name, err)
		}
		if p.tq.key, err = p.tq.key.WithOwnOrder(own); err != nil {
			return nil, err
		}
	}
	k := p.tq.key
	if k.Indexed() {
		return nil, nil
	}
	q := "EXPLAIN (FORMAT JSON) SELECT " + strings.Join(k.Columns(), ", ") + " FROM " + p.tq.from +
		" WHERE " + k.NotNull() + " ORDER BY " + k.OrderBy() + " LIMIT 1"
	var plan string
	if err := p.cfg.Pool.queryRow(ctx, q, []any{&plan}); err != nil {
		return nil, fmt.Errorf("table %s: plan of the key order: %w", p.cfg.Table.Name, err)
	}
	var out []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal([]byte(plan), &out); err != nil || len(out) != 1 {
		return nil, fmt.Errorf("table %s: plan of the key order: unexpected EXPLAIN output", p.cfg.Table.Name)
	}
	sorts, index := out[0].Plan.walk()
	if p.keyIndexed = index && !sorts; p.keyIndexed {
		return nil, nil
	}
	a := &keyAdvice{why: "no index gives the key order ORDER BY " + k.OrderBy() + " (the plan reads no index in that order)"}
	if p.cfg.Table.IsQuery() {
		a.why += "; a query side: index those expressions in the table it reads"
		return a, nil
	}
	a.ddl = pgIndexDDL(p.tq.from, k)
	return a, nil
}

// byteOrder reports, per key column, whether its collation is byte order
// in a UTF-8 database, which is the order of the canonical text's bytes:
// libc "C" or "POSIX" (named, as ucs_basic before PostgreSQL 17 is, or
// the database's default), or ucs_basic (code point order, which UTF-8's
// bytes follow). Then canon.KeySQL orders by the column itself (OwnOrder,
// text and varchar only). A "C.UTF-8" or ICU collation is not byte order
// to PostgreSQL (it sorts through the library), and is left to the
// planner's check.
func (p *Postgres) byteOrder(ctx context.Context) ([]bool, error) {
	byName := map[string]bool{}
	// datlocprovider is PostgreSQL 15's: read through to_jsonb so older
	// servers (always libc) answer too.
	err := p.cfg.Pool.query(ctx, `SELECT a.attname::text,
		pg_encoding_to_char(d.encoding) = 'UTF8' AND CASE
			WHEN a.attcollation = 100 THEN COALESCE(to_jsonb(d) ->> 'datlocprovider', 'c') = 'c' AND d.datcollate::text IN ('C', 'POSIX')
			ELSE c.collname::text = 'ucs_basic' OR (c.collprovider = 'c' AND c.collcollate::text IN ('C', 'POSIX')) END
		FROM pg_attribute a JOIN pg_database d ON d.datname = current_database()
		LEFT JOIN pg_collation c ON c.oid = a.attcollation
		WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`, func(r pgx.Rows) error {
		var name string
		var bytes *bool
		if err := r.Scan(&name, &bytes); err != nil {
			return err
		}
		byName[name] = bytes != nil && *bytes
		return nil
	}, p.cfg.Table.quotedName(canon.Postgres))
	if err != nil {
		return nil, err
	}
	names := p.cfg.Table.KeyNames()
	own := make([]bool, len(names))
	for i, n := range names {
		own[i] = byName[n]
	}
	return own, nil
}

// pgIndexDDL is the index that serves k's ranges on table: its order
// expressions, column by column.
func pgIndexDDL(table string, k *canon.KeySQL) string {
	cols := k.Columns()
	elems := make([]string, len(cols))
	for i, o := range k.Orders() {
		elems[i] = o
		if o != cols[i] {
			elems[i] = "(" + o + ")"
		}
	}
	return "CREATE INDEX CONCURRENTLY ON " + table + " (" + strings.Join(elems, ", ") + ")"
}

// keyColumnInfo is what information_schema says of a MariaDB key column
// beyond describeSQL.
type keyColumnInfo struct {
	charset, collation, columnType string
	nullable                       bool
}

// tupleIndex implements tupleSide: a text or UUID key column whose
// collation orders as the canonical texts do (mariaOwnOrder) is ordered
// by the column itself. A UUID text column is so only when bounded (the
// order is needed) and after one scan finds no value that is not a
// well-formed UUID (its collation orders well-formed UUIDs only); a value
// written later is refused when read (canon.KeySQL.Check), never placed
// out of order. The optimizer then tells whether an index gives that
// order (indexedOwnOrder).
func (m *MariaDB) tupleIndex(ctx context.Context, bounded bool) (*keyAdvice, error) {
	m.unindexed = false
	k := m.tq.key
	if k.Indexed() {
		return nil, nil
	}
	if m.cfg.Table.IsQuery() {
		return &keyAdvice{why: "a query side: its key is ordered by expressions that no index holds (MariaDB indexes no expression)"}, nil
	}
	info, err := m.keyColumnInfo(ctx)
	if err != nil {
		return nil, fmt.Errorf("describe the key of %s: %w", m.cfg.Table.Name, err)
	}
	names, kinds, cols := m.cfg.Table.KeyNames(), k.Kinds(), k.Columns()
	own := make([]bool, len(names))
	var why, ddl []string
	for i, name := range names {
		if k.Orders()[i] == cols[i] {
			continue // ordered by the column already
		}
		c := info[name]
		ok, reason, fix := mariaOwnOrder(kinds[i], m.keys[i].DataType, c)
		if ok && kinds[i] == canon.KindUUID {
			if !bounded {
				continue // the check scans the column: only when the order is needed
			}
			if ok, err = m.wellFormedUUIDs(ctx, cols[i]); err != nil {
				return nil, fmt.Errorf("check the UUIDs of %s.%s: %w", m.cfg.Table.Name, name, err)
			}
			if !ok {
				reason, fix = "it holds values that are not well-formed UUIDs, which its collation does not order as their canonical text", ""
			}
		}
		own[i] = ok
		if !ok {
			why = append(why, fmt.Sprintf("key column %s (%s, collation %s): %s", name, c.columnType, c.collation, reason))
			if fix != "" {
				null := " NOT NULL"
				if c.nullable {
					null = " NULL"
				}
				ddl = append(ddl, "ALTER TABLE "+m.cfg.Table.quotedName(canon.MySQL)+" MODIFY "+cols[i]+" "+c.columnType+" "+fix+null)
			}
		}
	}
	if m.tq.key, err = k.WithOwnOrder(own); err != nil {
		return nil, err
	}
	if m.tq.key.Indexed() {
		return m.indexedOwnOrder(ctx)
	}
	a := &keyAdvice{why: strings.Join(why, "; "), ddl: strings.Join(ddl, "; ")}
	if a.ddl != "" {
		// MODIFY restates the whole column: what it does not write
		// (DEFAULT, COMMENT, …) is dropped.
		a.ddl += " -- keep the column's other attributes"
	}
	return a, nil
}

// indexedOwnOrder checks that an index gives the key order the columns'
// own collations now give (the optimizer does not sort the first key in
// that order); if none does, the key is unindexed, and the advice is the
// index to add.
func (m *MariaDB) indexedOwnOrder(ctx context.Context) (*keyAdvice, error) {
	k := m.tq.key
	from := m.cfg.Table.quotedName(canon.MySQL)
	rows, err := m.cfg.DB.QueryContext(ctx, "EXPLAIN SELECT "+strings.Join(k.Columns(), ", ")+" FROM "+from+
		" WHERE "+k.NotNull()+" ORDER BY "+k.OrderBy()+" LIMIT 1")
	if err != nil {
		return nil, fmt.Errorf("table %s: plan of the key order: %w", m.cfg.Table.Name, err)
	}
	defer rows.Close()
	names, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	sorts := false
	vals := make([]sql.NullString, len(names))
	dst := make([]any, len(names))
	for i := range vals {
		dst[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(dst...); err != nil {
			return nil, fmt.Errorf("table %s: plan of the key order: %w", m.cfg.Table.Name, err)
		}
		for i, n := range names {
			sorts = sorts || strings.EqualFold(n, "Extra") && strings.Contains(vals[i].String, "filesort")
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("table %s: plan of the key order: %w", m.cfg.Table.Name, err)
	}
	if m.unindexed = sorts; !sorts {
		return nil, nil
	}
	a := &keyAdvice{why: "no index gives the key order ORDER BY " + k.OrderBy() + " (the plan sorts)"}
	for _, c := range m.keys {
		if t := strings.ToLower(c.DataType); strings.HasSuffix(t, "text") || strings.HasSuffix(t, "blob") {
			return a, nil // an index on it is a prefix's, which gives no order
		}
	}
	a.ddl = "CREATE INDEX ficus_key ON " + from + " (" + strings.Join(k.Columns(), ", ") + ")"
	return a, nil
}

// mariaUUIDCollations are the case-insensitive collations under which
// every well-formed UUID text orders as its lowercase text: each
// character's order among 0-9, a-f (either case) is its lowercase
// byte's, with no contraction or tailoring among them (a Danish
// collation sorts "aa" after "z"; a _bin or _cs one puts "B" before "a").
// keyindex_test checks each on the server against canon.CompareKeys.
var mariaUUIDCollations = map[string]bool{
	"utf8mb4_general_ci": true, "utf8mb4_general_nopad_ci": true,
	"utf8mb4_unicode_ci": true, "utf8mb4_unicode_520_ci": true,
	"utf8mb3_general_ci": true, "utf8mb3_unicode_ci": true,
	"latin1_swedish_ci": true, "latin1_general_ci": true,
	"ascii_general_ci": true,
}

// mariaOwnOrder decides whether a key column of kind k and data type
// dataType orders, by its own collation, as canon.CompareKeys does; if
// not, why, and the column definition's tail (charset and collation) that
// would, when one is known to.
func mariaOwnOrder(k canon.Kind, dataType string, c keyColumnInfo) (ok bool, why, fix string) {
	t := strings.ToLower(dataType)
	textual := t == "varchar" || strings.HasSuffix(t, "text")
	switch {
	case k == canon.KindText && textual && c.collation == "utf8mb4_nopad_bin":
		// Code point order, which is UTF-8's byte order, without padding:
		// and the parameters are UTF-8 too.
		return true, "", ""
	case k == canon.KindText && c.collation == "utf8mb4_bin":
		why = "utf8mb4_bin pads with spaces ('a' = 'a ', 'a\\t' < 'a'): not the bytes' order"
	case k == canon.KindText && t == "char":
		// CHAR pads and trims trailing spaces: not shown to order as the
		// canonical (trimmed) text's bytes; a VARCHAR under
		// utf8mb4_nopad_bin is.
		return false, "a CHAR column: only VARCHAR and TEXT columns under utf8mb4_nopad_bin order as their bytes", ""
	case k == canon.KindText:
		why = "the collation does not order as the UTF-8 bytes"
	case k == canon.KindUUID && (t == "char" || t == "varchar"):
		if mariaUUIDCollations[c.collation] {
			return true, "", ""
		}
		return false, "the collation does not order UUIDs of either case as their lowercase text", "CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
	default:
		return false, "its type (" + t + ") does not order as a key of kind " + k.String(), ""
	}
	if textual {
		fix = "CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin"
		why += " (a byte-order collation also changes how the application compares the column)"
	}
	return false, why, fix
}

// keyColumnInfo reads the key columns' character set, collation and
// full type.
func (m *MariaDB) keyColumnInfo(ctx context.Context) (map[string]keyColumnInfo, error) {
	schema, name, _ := strings.Cut(m.cfg.Table.Name, ".")
	rows, err := m.cfg.DB.QueryContext(ctx, "SELECT column_name, COALESCE(character_set_name, ''), COALESCE(collation_name, ''), column_type, is_nullable "+
		"FROM information_schema.columns WHERE table_schema = ? AND table_name = ?", schema, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]keyColumnInfo{}
	for rows.Next() {
		var col, nullable string
		var c keyColumnInfo
		if err := rows.Scan(&col, &c.charset, &c.collation, &c.columnType, &nullable); err != nil {
			return nil, err
		}
		c.nullable = nullable != "NO"
		out[col] = c
	}
	return out, rows.Err()
}

// uuidPattern is a well-formed UUID text of either case, matched on the
// bytes (a collation could match other characters to [a-f]).
const uuidPattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

// wellFormedUUIDs reports whether every value of col is a well-formed
// UUID text: one scan of the column, stopping at the first that is not.
func (m *MariaDB) wellFormedUUIDs(ctx context.Context, col string) (bool, error) {
	var one int
	err := m.cfg.DB.QueryRowContext(ctx, "SELECT 1 FROM "+m.cfg.Table.quotedName(canon.MySQL)+" WHERE CAST("+col+
		" AS BINARY) NOT RLIKE "+canon.QuoteString(canon.MySQL, uuidPattern)+" LIMIT 1").Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	}
	return false, err
}
