package config

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ficus-migrate/ficus/capture/mask"
)

// Columns is capture.sources[].tables[].columns: the columns of a table left
// out of every event and those masked, applied in the sink before anything
// is published (transforms included), in before, after and key alike. A
// masked key column is masked in the event's key too, so consumers that
// key by it see the masked value.
type Columns struct {
	// Exclude lists columns that never leave the source.
	Exclude []string `yaml:"exclude,omitempty,flow"`
	// Mask maps a column to its mask: hash (hex HMAC-SHA256 of the value's
	// canonical text keyed with capture.mask_secret, so equal values still
	// join), "keep_last:N" (the last N characters kept, each one before
	// them replaced by '*') or null. A null value stays null.
	Mask ColumnMasks `yaml:"mask,omitempty"`
}

// ColumnMask is one entry of Columns.Mask.
type ColumnMask struct {
	Column string
	Mask   mask.Spec
}

// ColumnMasks keeps the file's order of columns.mask.
type ColumnMasks []ColumnMask

// MarshalYAML writes the masks as the mapping they were read from.
func (c ColumnMasks) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, m := range c {
		n.Content = append(n.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Value: m.Column},
			&yaml.Node{Kind: yaml.ScalarNode, Value: m.Mask.String()})
	}
	return n, nil
}

// IsZero lets omitempty leave out an empty columns.
func (c Columns) IsZero() bool { return len(c.Exclude) == 0 && len(c.Mask) == 0 }

// Spec returns the mask of column, if it has one.
func (c Columns) Spec(column string) (mask.Spec, bool) {
	for _, m := range c.Mask {
		if m.Column == column {
			return m.Mask, true
		}
	}
	return mask.Spec{}, false
}

// Excludes reports whether column is left out.
func (c Columns) Excludes(column string) bool {
	for _, e := range c.Exclude {
		if e == column {
			return true
		}
	}
	return false
}

// Masker builds the source's column masker (nil when no table has a
// columns rule); secret is capture.mask_secret.
func (s Source) Masker(secret Secret) (*mask.Masker, error) {
	tables := map[string]mask.Table{}
	for _, t := range s.Tables {
		if t.Columns.IsZero() {
			continue
		}
		mt := mask.Table{Exclude: t.Columns.Exclude, Mask: map[string]mask.Spec{}}
		for _, m := range t.Columns.Mask {
			mt.Mask[m.Column] = m.Mask
		}
		tables[t.Table] = mt
	}
	return mask.New(mask.Config{Tables: tables, Secret: []byte(secret.Reveal())})
}

// tableColumns decodes a tables entry's columns.
func (d *decoder) tableColumns(n *yaml.Node, l loc, c *Columns) {
	d.mapping(n, l,
		field{"exclude", func(v *yaml.Node, l loc) { d.strs(v, l, &c.Exclude, checkMaskColumn) }},
		field{"mask", func(v *yaml.Node, l loc) { c.Mask = d.columnMasks(v, l) }},
	)
	for _, m := range c.Mask {
		if c.Excludes(m.Column) {
			d.fail(l.path+".mask"+pathKey(m.Column), "column %q is also in exclude: an excluded column is never published, so it cannot be masked", m.Column)
		}
	}
}

func (d *decoder) columnMasks(n *yaml.Node, l loc) ColumnMasks {
	n = d.resolve(n, l)
	if n == nil || isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(l, `expected a mapping of column to mask, such as {email: hash, card_number: "keep_last:4"}, got %s`, describe(n))
		return nil
	}
	var out ColumnMasks
	for _, e := range d.entries(n, l) {
		kl := l.key(e.key, e.k)
		d.seen[kl.path] = kl
		if msg := checkMaskColumn(e.key); msg != "" {
			d.errorf(kl, "%s, got %q", msg, e.key)
			continue
		}
		var text string
		if r := d.resolve(e.v, kl); r != nil && isNull(r) {
			text = "null" // a bare null means the null mask
		} else if s, _, ok := d.scalar(e.v, kl, "a mask", false); ok {
			text = s
		} else {
			continue
		}
		spec, err := mask.Parse(text)
		if err != nil {
			d.errorf(kl, "%s", err)
			continue
		}
		out = append(out, ColumnMask{Column: e.key, Mask: spec})
	}
	return out
}

func checkMaskColumn(s string) string {
	if strings.TrimSpace(s) == "" {
		return "expected a column name"
	}
	return ""
}

// pathKey is how loc.key spells a mapping key in a path.
func pathKey(name string) string { return loc{path: "x"}.key(name, &yaml.Node{}).path[1:] }

// validateMasks refuses a hash mask without capture.mask_secret and
// comparisons of masked columns that cannot work.
func (d *decoder) validateMasks(c *Config) {
	d.validateCompareMasks(c)
	if c.Capture.MaskSecret != "" {
		return
	}
	for i, s := range c.Capture.Sources {
		for j, t := range s.Tables {
			for _, m := range t.Columns.Mask {
				if m.Mask.Kind == mask.Hash {
					d.fail(fmt.Sprintf("capture.sources[%d].tables[%d].columns.mask%s", i, j, pathKey(m.Column)),
						`hash needs capture.mask_secret, a secret from the environment such as "${FICUS_MASK_SECRET}"`)
				}
			}
		}
	}
}

// maskSecret decodes capture.mask_secret; its value is never shown.
func (d *decoder) maskSecret(v *yaml.Node, l loc, dst *Secret) {
	s, _, ok := d.scalar(v, l, "a string", true)
	switch {
	case !ok:
	case s == RedactedText:
		// A Redacted dump reloads (ficus validate of a dump); a real key
		// this short is refused below.
		*dst = Secret(s)
	case len(s) < minRedactKey:
		d.errorf(l, "must be at least %d characters (value not shown), such as the output of openssl rand -hex 32", minRedactKey)
	default:
		*dst = Secret(s)
	}
}

// columnsOf returns the columns rules of table in the source named source.
func columnsOf(c *Config, source, table string) Columns {
	for _, s := range c.Capture.Sources {
		if s.Name != source {
			continue
		}
		for _, t := range s.Tables {
			if t.Table == table {
				return t.Columns
			}
		}
	}
	return Columns{}
}

// validateCompareMasks refuses comparisons that masking makes meaningless.
// The continuous comparison reads the published (masked) events: a column
// left out cannot be compared, a column masked on one side only (or with
// two different masks) can never match, a rule cannot scale or map a
// masked value and the integer key cannot be masked. A column masked alike
// on both sides compares the masked values (with hash: equal hashes for
// equal canonical texts under the same capture.mask_secret).
func (d *decoder) validateCompareMasks(c *Config) {
	for i := range c.CompareData {
		cd := &c.CompareData[i]
		base := fmt.Sprintf("compare_data[%d]", i)
		if cd.Legacy.Query != "" || cd.New.Query != "" {
			d.validateQueryMasks(c, base, cd)
			continue
		}
		lc := columnsOf(c, cd.Legacy.Source, cd.Legacy.Table)
		nc := columnsOf(c, cd.New.Source, cd.New.Table)
		if lc.IsZero() && nc.IsZero() {
			continue
		}
		for _, side := range []struct {
			key  string
			s    DataSide
			cols Columns
		}{{"legacy", cd.Legacy, lc}, {"new", cd.New, nc}} {
			for _, k := range side.s.Key {
				if _, masked := side.cols.Spec(k); masked || side.cols.Excludes(k) {
					d.fail(base+"."+side.key+".key", "key column %q is masked or excluded in capture (tables %s columns): the comparison needs the key as captured", k, side.s.Table)
				}
			}
		}
		masked := map[string]bool{}
		for _, p := range cd.Columns {
			path := base + ".columns" + pathKey(p.Legacy)
			ls, lm := lc.Spec(p.Legacy)
			ns, nm := nc.Spec(p.New)
			switch {
			case lc.Excludes(p.Legacy):
				d.fail(path, "legacy column %q is excluded from capture (tables %s columns.exclude): it cannot be compared", p.Legacy, cd.Legacy.Table)
			case nc.Excludes(p.New):
				d.fail(path, "new column %q is excluded from capture (tables %s columns.exclude): it cannot be compared", p.New, cd.New.Table)
			case lm != nm || ls != ns:
				d.fail(path, "%q → %q is masked differently on the two sides (legacy %s, new %s): the values could never match; mask both alike or stop comparing it",
					p.Legacy, p.New, maskName(ls, lm), maskName(ns, nm))
			case lm:
				masked[p.Legacy] = true
			}
		}
		for j, r := range cd.Rules {
			if masked[r.Column] {
				d.fail(fmt.Sprintf("%s.rules[%d].column", base, j), "column %q is masked in capture: a rule cannot scale or map a masked value", r.Column)
			}
		}
	}
}

func maskName(s mask.Spec, ok bool) string {
	if !ok {
		return "unmasked"
	}
	return s.String()
}

// MaskOf returns the mask of column in table ("schema.table") of the
// capture source named source, if it has one.
func (c *Config) MaskOf(source, table, column string) (mask.Spec, bool) {
	return columnsOf(c, source, table).Spec(column)
}

// validateQueryMasks: a query side reads its database, so in continuous
// mode (query_tables) the table side's compared columns and key must be
// captured unmasked; reconcile alone reads both databases.
func (d *decoder) validateQueryMasks(c *Config, base string, cd *CompareData) {
	if len(cd.Legacy.QueryTables) == 0 && len(cd.New.QueryTables) == 0 {
		return
	}
	for _, side := range []struct {
		key string
		s   DataSide
		col func(ColumnPair) string
	}{{"legacy", cd.Legacy, func(p ColumnPair) string { return p.Legacy }}, {"new", cd.New, func(p ColumnPair) string { return p.New }}} {
		if side.s.Query != "" {
			continue
		}
		cols := columnsOf(c, side.s.Source, side.s.Table)
		names := append([]string(nil), side.s.Key...)
		for _, p := range cd.Columns {
			names = append(names, side.col(p))
		}
		for _, n := range names {
			if _, masked := cols.Spec(n); masked || cols.Excludes(n) {
				d.fail(base+"."+side.key+".table", "column %q is masked or excluded in capture (tables %s columns): "+
					"it cannot be compared with a query side, which reads the database", n, side.s.Table)
			}
		}
	}
}
