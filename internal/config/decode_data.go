package config

import (
	"fmt"
	"regexp"
	"time"

	"go.yaml.in/yaml/v3"
)

// This file decodes and validates compare_data: dual-run data comparisons.

func (d *decoder) compareData(n *yaml.Node, l loc, c *[]CompareData) {
	d.list(n, l, func(item *yaml.Node, il loc) {
		cd := defaultCompareData()
		d.mapping(item, il,
			field{"name", func(v *yaml.Node, l loc) {
				d.checked(v, l, &cd.Name, reCheck(sourceNameRe, "expected a name matching [a-z0-9_-]+"))
			}},
			field{"legacy", func(v *yaml.Node, l loc) { d.dataSide(v, l, &cd.Legacy) }},
			field{"new", func(v *yaml.Node, l loc) { d.dataSide(v, l, &cd.New) }},
			field{"columns", func(v *yaml.Node, l loc) { cd.Columns = d.columnPairs(v, l) }},
			field{"rules", func(v *yaml.Node, l loc) {
				d.list(v, l, func(item *yaml.Node, il loc) {
					var r DataRule
					d.dataRule(item, il, &r)
					cd.Rules = append(cd.Rules, r)
				})
			}},
			field{"max_lag", func(v *yaml.Node, l loc) { d.duration(v, l, &cd.MaxLag, 1) }},
			field{"plugin", func(v *yaml.Node, l loc) {
				d.checked(v, l, &cd.Plugin, reCheck(sourceNameRe, "expected a plugin name matching [a-z0-9_-]+"))
			}},
			field{"where", func(v *yaml.Node, l loc) { d.dataWhere(v, l, &cd.Where) }},
			field{"min_age", func(v *yaml.Node, l loc) { d.duration(v, l, &cd.MinAge, time.Second) }},
			field{"updated_at", func(v *yaml.Node, l loc) { d.dataUpdatedAt(v, l, &cd.UpdatedAt) }},
			field{"throttle", func(v *yaml.Node, l loc) { d.dataThrottle(v, l, &cd.Throttle) }},
		)
		*c = append(*c, cd)
	})
}

var columnNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]{0,63}$`)

const columnWant = "expected a column name ([A-Za-z_][A-Za-z0-9_$]*)"

func (d *decoder) dataSide(n *yaml.Node, l loc, s *DataSide) {
	d.mapping(n, l,
		field{"source", func(v *yaml.Node, l loc) { d.str(v, l, &s.Source) }},
		field{"table", func(v *yaml.Node, l loc) { d.checked(v, l, &s.Table, checkTable) }},
		field{"query", func(v *yaml.Node, l loc) { d.checked(v, l, &s.Query, checkQuery) }},
		field{"query_tables", func(v *yaml.Node, l loc) { d.strs(v, l, &s.QueryTables, checkTable) }},
		field{"key_from", func(v *yaml.Node, l loc) { s.KeyFrom = d.keyFrom(v, l) }},
		field{"key", func(v *yaml.Node, l loc) { d.strs(v, l, &s.Key, reCheck(columnNameRe, columnWant)) }},
	)
}

// columnPairs reads the legacy-to-new column mapping in file order.
func (d *decoder) columnPairs(n *yaml.Node, l loc) ColumnPairs {
	n = d.resolve(n, l)
	if n == nil || isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(l, "expected a mapping of legacy column to new column, got %s", describe(n))
		return nil
	}
	var out ColumnPairs
	newCols := map[string]string{}
	for _, e := range d.entries(n, l) {
		kl := l.key(e.key, e.k)
		d.seen[kl.path] = kl
		if msg := reCheck(columnNameRe, columnWant)(e.key); msg != "" {
			d.errorf(kl, "%s, got %q", msg, e.key)
			continue
		}
		var to string
		s, raw, ok := d.scalar(e.v, kl, "a column name", false)
		switch {
		case !ok:
			if !d.failed[kl.path] {
				d.errorf(kl, "expected the new column's name, got null")
			}
			continue
		case columnNameRe.MatchString(s):
			to = s
		default:
			d.errorf(kl, "%s, got %s", columnWant, got(s, raw))
			continue
		}
		if prev, dup := newCols[to]; dup {
			d.errorf(kl, "new column %q is already compared with legacy column %q", to, prev)
			continue
		}
		newCols[to] = e.key
		out = append(out, ColumnPair{Legacy: e.key, New: to})
	}
	return out
}

func (d *decoder) dataRule(n *yaml.Node, l loc, r *DataRule) {
	d.mapping(n, l,
		field{"column", func(v *yaml.Node, l loc) { d.str(v, l, &r.Column) }},
		field{"scale", func(v *yaml.Node, l loc) { d.checked(v, l, &r.Scale, checkScale) }},
		field{"map", func(v *yaml.Node, l loc) { r.Map = d.valueMap(v, l) }},
	)
}

var (
	scaleRe     = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
	zeroScaleRe = regexp.MustCompile(`^[0.]+$`)
)

func checkScale(s string) string {
	if !scaleRe.MatchString(s) || zeroScaleRe.MatchString(s) {
		return "expected a decimal number greater than 0 such as 100 or 0.01"
	}
	return ""
}

// valueMap reads a mapping of legacy values to new values.
func (d *decoder) valueMap(n *yaml.Node, l loc) map[string]string {
	n = d.resolve(n, l)
	if n == nil || isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(l, "expected a mapping of legacy value to new value, got %s", describe(n))
		return nil
	}
	out := map[string]string{}
	for _, e := range d.entries(n, l) {
		kl := l.key(e.key, e.k)
		d.seen[kl.path] = kl
		s, _, ok := d.scalar(e.v, kl, "a value", false)
		if !ok {
			if !d.failed[kl.path] {
				d.errorf(kl, "expected the new value, got null (use \"\" for an empty value)")
			}
			continue
		}
		out[e.key] = s
	}
	return out
}

// validateCompareData checks what spans keys: names, sources, rules.
func (d *decoder) validateCompareData(c *Config) {
	sources := map[string]bool{}
	for _, s := range c.Capture.Sources {
		sources[s.Name] = true
	}
	names := map[string]int{}
	for i := range c.CompareData {
		cd := &c.CompareData[i]
		base := fmt.Sprintf("compare_data[%d]", i)
		switch j, dup := names[cd.Name]; {
		case cd.Name == "":
			d.fail(base+".name", "required")
		case dup:
			d.fail(base+".name", "duplicate name %q (also compare_data[%d])", cd.Name, j)
		default:
			names[cd.Name] = i
		}
		for _, side := range []struct {
			key string
			s   DataSide
		}{{"legacy", cd.Legacy}, {"new", cd.New}} {
			p := base + "." + side.key
			switch {
			case side.s.Source == "":
				d.fail(p+".source", "required: the name of a capture source")
			case !sources[side.s.Source]:
				d.fail(p+".source", "no capture source named %q (see capture.sources)", side.s.Source)
			}
			switch {
			case side.s.Table != "" && side.s.Query != "":
				d.fail(p+".query", "a side is a table or a query, not both: remove table or query")
			case side.s.Table == "" && side.s.Query == "" && !d.present(p+".query"):
				d.fail(p+".table", `required: "schema.table" (or query: a SELECT)`)
			}
			d.validateQuerySide(p, side.s)
			if len(side.s.Key) == 0 {
				d.fail(p+".key", "expected the key columns, such as [id] or [order_id, line_no]")
			}
		}
		if nl, nn := len(cd.Legacy.Key), len(cd.New.Key); nl > 0 && nn > 0 && nl != nn {
			d.fail(base+".new.key", "%d key column(s) against legacy's %d: both sides need the same number, paired in order", nn, nl)
		}
		if len(cd.Columns) == 0 {
			d.fail(base+".columns", "required: at least one legacy column: new column")
		}
		d.validateDataWindow(base, cd)
		legacyCols := map[string]bool{}
		for _, p := range cd.Columns {
			legacyCols[p.Legacy] = true
		}
		ruled := map[string]int{}
		for j, r := range cd.Rules {
			p := fmt.Sprintf("%s.rules[%d]", base, j)
			switch k, dup := ruled[r.Column]; {
			case r.Column == "":
				d.fail(p+".column", "required: a legacy column listed in columns")
			case !legacyCols[r.Column]:
				d.fail(p+".column", "%q is not a legacy column listed in columns", r.Column)
			case dup:
				d.fail(p+".column", "column %q already has a rule (rules[%d]); put scale and map in one rule", r.Column, k)
			default:
				ruled[r.Column] = j
			}
			if !d.present(p+".scale") && !d.present(p+".map") {
				d.fail(p, "a rule needs scale or map")
			}
		}
	}
}
