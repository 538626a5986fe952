package reconcile

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// RepairSQL writes, in new's dialect (e), the statements that would make
// the new table equal the legacy one for every difference of r: an INSERT
// of the legacy row for a key missing in new, a DELETE for a key missing in
// legacy, and an UPDATE of the differing columns otherwise, in one
// transaction. ficus never runs them: they are for a person to review.
//
// The values written are the legacy rows' canonical values after
// compare_data's rules: the rules map legacy values into new's terms
// (scale multiplies, map replaces), so a rule's forward direction is what
// new must hold, and no rule needs inverting. Columns go through the
// mapping: new's names, only the mapped ones (an INSERT leaves new's other
// columns to their defaults). Timestamps are canonical UTC, so the script
// sets the session's time zone to UTC first. A row that cannot be written
// faithfully (a value PostgreSQL text cannot hold: a NUL byte; a value that
// is not UTF-8) is not guessed at: it is listed in a comment with the
// reason, and no statement is written for it.
//
// Every value is a literal quoted by sqlLiteral; identifiers are quoted by
// canon.QuoteIdent; comments hold only keys and quoted names.
//
// A new side that is a query (Table.Query) has no table to write to: no
// statement is written, and the differing keys are listed in comments
// for a person to repair by hand.
func (r *Result) RepairSQL(w io.Writer, name string, e canon.Engine, newTable Table) error {
	bw := bufio.NewWriter(w)
	if newTable.IsQuery() {
		return r.repairQueryKeys(bw, name)
	}
	fmt.Fprintf(bw, "-- ficus reconcile %s: statements that make new (%s) equal legacy for %d differing key(s).\n",
		commentText(name), commentText(newTable.Name), len(r.Differences))
	fmt.Fprintln(bw, "-- Review before running: ficus never runs them. Values are legacy's, after compare_data's rules.")
	if e == canon.MySQL {
		fmt.Fprintln(bw, "SET NAMES utf8mb4;\nSET time_zone = '+00:00';\nSTART TRANSACTION;")
	} else {
		fmt.Fprintln(bw, "SET client_encoding = 'UTF8';\nSET TIME ZONE 'UTC';\nBEGIN;")
	}
	var skipped []string
	for _, d := range r.Differences {
		stmt, err := repairStatement(e, newTable, d, r.KeyKinds, r.NewKeyTypes)
		if err != nil {
			key := d.keyText()
			if d.Tuple != nil {
				key = commentText(key) // the texts may hold anything
			}
			skipped = append(skipped, fmt.Sprintf("-- key %s (%s): not written: %v", key, d.Kind, err))
			continue
		}
		fmt.Fprintln(bw, stmt)
	}
	fmt.Fprintln(bw, "COMMIT;")
	if len(skipped) > 0 {
		fmt.Fprintf(bw, "-- %d key(s) could not be written faithfully and were left out:\n", len(skipped))
		for _, s := range skipped {
			fmt.Fprintln(bw, s)
		}
	}
	return bw.Flush()
}

// repairQueryKeys lists the differing keys of a comparison whose new side
// is a query, in comments only.
func (r *Result) repairQueryKeys(bw *bufio.Writer, name string) error {
	fmt.Fprintf(bw, "-- ficus reconcile %s: new is a query, not a table: ficus writes no statements for a query side.\n", commentText(name))
	fmt.Fprintf(bw, "-- The %d differing key(s), to repair in the tables the query reads:\n", len(r.Differences))
	for _, d := range r.Differences {
		key := d.keyText()
		if d.Tuple != nil {
			key = commentText(key)
		}
		fmt.Fprintf(bw, "-- key %s: %s\n", key, d.Kind)
	}
	return bw.Flush()
}

// repairKey returns the new side's key columns (quoted) and the literals
// of d's key: the integer, or each canonical text of a tuple key (binary
// key columns as bytes from their hex, a UUID into a binary column — types,
// the new side's key column types — as its 16 bytes).
func repairKey(e canon.Engine, t Table, d Difference, kinds []canon.Kind, types []string) (names, lits []string, err error) {
	if d.Tuple == nil {
		return []string{canon.QuoteIdent(e, t.intKey())}, []string{strconv.FormatInt(d.Key, 10)}, nil
	}
	keys := t.KeyNames()
	if len(keys) != len(d.Tuple) {
		return nil, nil, fmt.Errorf("%d key values for %d key columns", len(d.Tuple), len(keys))
	}
	for i, k := range keys {
		lit, err := sqlLiteral(e, canon.Value{Text: d.Tuple[i]})
		if err != nil {
			return nil, nil, fmt.Errorf("key column %s: %w", strconv.Quote(k), err)
		}
		hexText := ""
		switch {
		case i < len(kinds) && kinds[i] == canon.KindBinary:
			hexText = d.Tuple[i]
		case i < len(kinds) && kinds[i] == canon.KindUUID && i < len(types) && canon.Binary(types[i]):
			hexText = strings.ReplaceAll(d.Tuple[i], "-", "")
			if len(hexText) != 32 {
				return nil, nil, fmt.Errorf("key column %s: not a UUID", strconv.Quote(k))
			}
		}
		if hexText != "" {
			if _, err := hex.DecodeString(hexText); err != nil {
				return nil, nil, fmt.Errorf("key column %s: not hex", strconv.Quote(k))
			}
			lit = "decode('" + hexText + "', 'hex')"
			if e == canon.MySQL {
				lit = "X'" + hexText + "'"
			}
		}
		names, lits = append(names, canon.QuoteIdent(e, k)), append(lits, lit)
	}
	return names, lits, nil
}

// repairStatement is the statement for one difference.
func repairStatement(e canon.Engine, t Table, d Difference, kinds []canon.Kind, types []string) (string, error) {
	table := t.quotedName(e)
	keyNames, keyLits, err := repairKey(e, t, d, kinds, types)
	if err != nil {
		return "", err
	}
	conds := make([]string, len(keyNames))
	isKey := map[string]bool{}
	for i := range keyNames {
		conds[i] = keyNames[i] + " = " + keyLits[i]
	}
	for _, k := range t.KeyNames() {
		isKey[k] = true
	}
	where := " WHERE " + strings.Join(conds, " AND ") + ";"
	switch d.Kind {
	case MissingInLegacy:
		return "DELETE FROM " + table + where, nil
	case MissingInNew:
		if len(d.LegacyRow) != len(t.Columns) {
			return "", errors.New("the legacy row was not kept")
		}
		names := append([]string(nil), keyNames...)
		vals := append([]string(nil), keyLits...)
		for i, c := range t.Columns {
			if isKey[c] {
				continue // a key column mapped as a column too: written once
			}
			lit, err := sqlLiteral(e, d.LegacyRow[i])
			if err != nil {
				return "", fmt.Errorf("column %s: %w", strconv.Quote(c), err)
			}
			names = append(names, canon.QuoteIdent(e, c))
			vals = append(vals, lit)
		}
		return "INSERT INTO " + table + " (" + strings.Join(names, ", ") + ") VALUES (" + strings.Join(vals, ", ") + ");", nil
	}
	if len(d.Columns) == 0 {
		return "", errors.New("no differing column was kept")
	}
	sets := make([]string, 0, len(d.Columns))
	for _, c := range d.Columns {
		lit, err := sqlLiteral(e, c.LegacyVal)
		if err != nil {
			return "", fmt.Errorf("column %s: %w", strconv.Quote(c.New), err)
		}
		sets = append(sets, canon.QuoteIdent(e, c.New)+" = "+lit)
	}
	return "UPDATE " + table + " SET " + strings.Join(sets, ", ") + where, nil
}

// Errors of sqlLiteral: values that cannot be written faithfully.
var (
	errNUL     = errors.New("the value holds a NUL byte, which PostgreSQL text cannot hold")
	errNotUTF8 = errors.New("the value is not valid UTF-8")
)

// sqlLiteral quotes v as a string literal of e that the server turns into
// exactly v's text, whatever its settings: plain '…' only for printable
// ASCII without quotes or backslashes (the same in every mode); otherwise
// PostgreSQL's escape string E'…' with \\, \', \xHH for control characters
// and \uXXXX / \UXXXXXXXX for the rest (the file stays ASCII), and for
// MariaDB/MySQL a hexadecimal literal with the utf8mb4 introducer (no
// escape rules at all, immune to NO_BACKSLASH_ESCAPES and ANSI_QUOTES). The
// database converts the text to the column's type.
func sqlLiteral(e canon.Engine, v canon.Value) (string, error) {
	if v.Null {
		return "NULL", nil
	}
	s := v.Text
	if !utf8.ValidString(s) {
		return "", errNotUTF8
	}
	if plain(s) {
		return "'" + s + "'", nil
	}
	if e == canon.MySQL {
		return "_utf8mb4 X'" + strings.ToUpper(hex.EncodeToString([]byte(s))) + "'", nil
	}
	var b strings.Builder
	b.WriteString("E'")
	for _, c := range s {
		switch {
		case c == 0:
			return "", errNUL
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\'':
			b.WriteString(`\'`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\x%02X`, c)
		case c < 0x7f:
			b.WriteRune(c)
		case c <= 0xffff:
			fmt.Fprintf(&b, `\u%04X`, c)
		default:
			fmt.Fprintf(&b, `\U%08X`, c)
		}
	}
	b.WriteString("'")
	return b.String(), nil
}

// plain says s needs no escaping in any dialect or mode.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '\'' || c == '\\' {
			return false
		}
	}
	return true
}

// commentText makes a name safe inside a -- comment: one line, quoted.
func commentText(s string) string { return strconv.Quote(s) }
