package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// This file restricts a side to a window of its rows: Table.Where (an SQL
// condition the user wrote) and Table.MinAge (rows touched recently are
// left out). Both are added to the checksum and row queries only, never
// to Bounds: MIN and MAX of the key under an arbitrary condition may scan
// the whole table, while a key range wider than the filtered rows costs
// nothing (ranges with no rows are empty buckets).

// CheckWhere refuses a Where fragment that could be anything but one
// condition inside the parentheses it is put in: a ';' (a second
// statement), a comment (it would swallow the rest of the query),
// unbalanced parentheses (a way out of them), an unterminated quote, a
// backslash (its meaning in a string depends on server settings, so the
// fragment's extent would be ambiguous) and, on PostgreSQL, '$' (dollar
// quoting and parameters). Quoted strings and identifiers may hold any of
// these except a backslash. The database checks the rest (see Describe).
func CheckWhere(e canon.Engine, s string) error {
	return checkFragment(e, s, "a where fragment", "one condition")
}

// checkFragment is CheckWhere's scan for any SQL that ficus puts inside
// parentheses: what names it in errors, one what it must be.
func checkFragment(e canon.Engine, s, what, one string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("empty " + strings.TrimPrefix(one, "one "))
	}
	depth := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'' || c == '"' || (c == '`' && e == canon.MySQL):
			end, err := quoteEnd(s, i)
			if err != nil {
				return err
			}
			i = end
		case c == '\\':
			return fmt.Errorf("a backslash at offset %d: write the value without one (its meaning depends on server settings)", i)
		case c == 0:
			return fmt.Errorf("a NUL byte at offset %d", i)
		case c == ';':
			return fmt.Errorf("';' at offset %d: %s is %s, never a second statement", i, what, one)
		case c == '-' && i+1 < len(s) && s[i+1] == '-', c == '/' && i+1 < len(s) && s[i+1] == '*',
			c == '#' && e == canon.MySQL:
			return fmt.Errorf("a comment at offset %d: comments are not allowed in %s", i, what)
		case c == '$' && e == canon.Postgres:
			return fmt.Errorf("'$' at offset %d: dollar quoting and parameters are not allowed in %s (quote such an identifier)", i, what)
		case c == '(':
			depth++
		case c == ')':
			if depth == 0 {
				return fmt.Errorf("')' at offset %d closes a parenthesis %s did not open", i, what)
			}
			depth--
		}
	}
	if depth != 0 {
		return fmt.Errorf("%d unclosed parenthes(es)", depth)
	}
	return nil
}

// quoteEnd returns the index of the quote that closes the one at s[i]; a
// doubled quote inside is an escaped one.
func quoteEnd(s string, i int) (int, error) {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			return 0, fmt.Errorf("a backslash at offset %d: write the value without one (its meaning depends on server settings)", j)
		case q:
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j, nil
		}
	}
	return 0, fmt.Errorf("unterminated %c quote at offset %d", q, i)
}

// checkWindow checks the updated_at column once Describe has read the
// table's columns (got); validate has checked Where.
func (t Table) checkWindow(e canon.Engine, got map[string]canon.Column) error {
	if t.MinAge <= 0 {
		return nil
	}
	col, ok := got[t.UpdatedAt]
	if !ok {
		return fmt.Errorf("%s has no updated_at column %q", t.label(), t.UpdatedAt)
	}
	if k := canon.KindOf(e, col.DataType); k != canon.KindTimestamp && k != canon.KindDate {
		return fmt.Errorf("%s: updated_at column %q is %s; min_age needs a date or timestamp column", t.label(), t.UpdatedAt, col.DataType)
	}
	return nil
}

// cutoffLayout is how a database's clock is read and a cutoff written.
const cutoffLayout = "2006-01-02 15:04:05.000000"

// window is the SQL of a side's window, fixed for the run.
type window struct {
	// all is the condition of the checksum queries: Where and "not
	// recent" ("" for none).
	all string
	// where is Where alone, the condition of the row queries ("" for
	// none): a key recent on one side only would otherwise be missing on
	// that side alone, so rows are fetched with recent, and a key recent
	// on either side is left out when the two sides' rows are compared.
	where string
	// recent is true for a row touched within MinAge ("" without MinAge).
	recent string
}

// windowSQL is t's window given the database's clock at the start of the
// run. The cutoff is fixed for the run, so a range scanned late sees the
// same window as one scanned early; a row with no updated_at is kept (its
// age is unknown, not recent).
func (t Table) windowSQL(e canon.Engine, now time.Time) window {
	var w window
	var conds []string
	if t.Where != "" {
		w.where = "(" + t.Where + ")"
		conds = append(conds, w.where)
	}
	if t.MinAge > 0 {
		col := canon.QuoteIdent(e, t.UpdatedAt)
		cut := now.Add(-t.MinAge).UTC().Format(cutoffLayout)
		lit := "TIMESTAMP '" + cut + "'" // a DATETIME is read as UTC, a TIMESTAMP in the session's +00:00
		if e == canon.Postgres {
			lit = "TIMESTAMPTZ '" + cut + "+00'" // a timestamp without zone is compared in the session's UTC
		}
		conds = append(conds, "("+col+" < "+lit+" OR "+col+" IS NULL)")
		w.recent = "COALESCE(" + col + " >= " + lit + ", FALSE)"
	}
	w.all = strings.Join(conds, " AND ")
	return w
}

// dropRecent leaves out of both row lists every key that is recent on
// either side (Row.Recent); the lists are in key order.
func dropRecent(legacy, new []Row) ([]Row, []Row) {
	recent := map[string]bool{}
	for _, rows := range [][]Row{legacy, new} {
		for _, r := range rows {
			if r.Recent {
				recent[r.id()] = true
			}
		}
	}
	if len(recent) == 0 {
		return legacy, new
	}
	keep := func(rows []Row) []Row {
		out := rows[:0:0]
		for _, r := range rows {
			if !recent[r.id()] {
				out = append(out, r)
			}
		}
		return out
	}
	return keep(legacy), keep(new)
}

// needsWindow says whether t restricts its rows at all.
func (t Table) needsWindow() bool { return t.Where != "" || t.MinAge > 0 }

// explainWindow asks the database to plan a query with the window's
// condition (EXPLAIN runs nothing): a fragment naming an unknown column,
// or that is not a condition, fails here, before any range is read.
func explainWindow(ctx context.Context, t Table, e canon.Engine, w window, query func(context.Context, string) error) error {
	cond := w.all
	if cond == "" {
		return nil
	}
	q := "EXPLAIN SELECT COUNT(*) FROM " + t.quotedName(e) + " WHERE " + cond
	if err := query(ctx, q); err != nil {
		return fmt.Errorf("table %s: the database refused the where/min_age condition: %w", t.Name, err)
	}
	return nil
}

// parseClock reads a database's clock as cutoffLayout text.
func parseClock(s string) (time.Time, error) {
	now, err := time.ParseInLocation(cutoffLayout, s, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("read the database's clock: %w", err)
	}
	return now, nil
}
