package config

import (
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// This file decodes and validates a query side of compare_data:
// legacy/new query, query_tables and key_from.

// checkQuery refuses what is visibly not one SELECT; the rest is checked
// when reconcile starts (quotes, comments, parentheses) and by the
// database (EXPLAIN).
func checkQuery(s string) string {
	rest := strings.TrimLeft(s, " \t\r\n(")
	end := strings.IndexFunc(rest, func(r rune) bool { return !unicode.IsLetter(r) })
	if end < 0 {
		end = len(rest)
	}
	switch first := rest[:end]; {
	case strings.TrimSpace(s) == "":
		return "expected a SELECT such as \"SELECT o.id, SUM(i.amount) AS total FROM ... GROUP BY o.id\""
	case strings.Contains(s, ";"):
		return "expected one SELECT without ';' (a query side is never a second statement)"
	case !strings.EqualFold(first, "select") && !strings.EqualFold(first, "with"):
		return "expected a SELECT (or WITH ... SELECT) query"
	}
	return ""
}

// keyFrom reads key_from: captured table to the column (or list of
// columns) of its rows holding the key.
func (d *decoder) keyFrom(n *yaml.Node, l loc) map[string][]string {
	n = d.resolve(n, l)
	if n == nil || isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(l, "expected a mapping of captured table to its key column(s), such as {public.order_items: order_id}, got %s", describe(n))
		return nil
	}
	out := map[string][]string{}
	for _, e := range d.entries(n, l) {
		kl := l.key(e.key, e.k)
		d.seen[kl.path] = kl
		if msg := checkTable(e.key); msg != "" {
			d.errorf(kl, "%s, got %q", msg, e.key)
			continue
		}
		var cols []string
		if v := d.resolve(e.v, kl); v != nil && v.Kind == yaml.ScalarNode && !isNull(v) {
			var c string
			d.checked(e.v, kl, &c, reCheck(columnNameRe, columnWant))
			if c != "" {
				cols = []string{c}
			}
		} else {
			d.strs(e.v, kl, &cols, reCheck(columnNameRe, columnWant))
		}
		if len(cols) > 0 {
			out[e.key] = cols
		}
	}
	return out
}

// validateQuerySide checks what spans a side's query keys (p is its path).
func (d *decoder) validateQuerySide(p string, s DataSide) {
	if s.Query == "" {
		if d.present(p + ".query_tables") {
			d.fail(p+".query_tables", "only with query: the captured tables a query side reads")
		}
		if d.present(p + ".key_from") {
			d.fail(p+".key_from", "only with query and query_tables")
		}
		return
	}
	if len(s.QueryTables) == 0 {
		if d.present(p + ".key_from") {
			d.fail(p+".key_from", "only with query_tables")
		}
		d.warn(p+".query", "without query_tables a query side is compared by ficus reconcile only: ficus run refuses this config "+
			"(list the captured tables the query reads in query_tables to compare it continuously)")
		return
	}
	listed := map[string]bool{}
	for _, t := range s.QueryTables {
		listed[t] = true
	}
	for t, cols := range s.KeyFrom {
		switch {
		case !listed[t]:
			d.fail(p+".key_from"+pathKey(t), "%q is not listed in query_tables", t)
		case len(s.Key) > 0 && len(cols) != len(s.Key):
			d.fail(p+".key_from"+pathKey(t), "%d column(s) for a key of %d (%v): name one column per key column, in order", len(cols), len(s.Key), s.Key)
		}
	}
}
