package config

import (
	"strings"

	"github.com/ficus-migrate/ficus/capture/subject"
)

// Table is one entry of capture.sources[].tables: a table to capture, written
// "schema.table" or, with a subject override or column rules, as a mapping
// {table: "schema.table", subject: token, columns: {exclude, mask}}.
//
// How "schema.table" splits: at the first dot, so the schema never holds a
// dot and the table may ("public.a.b" is table "a.b"). Either part may be
// written in double quotes, with "" for a quote inside, as in SQL:
// "public"."a.b", "Sales"."Q1 ""draft""". A schema whose name holds a dot
// cannot be captured selectively. Names are taken as they are in the catalog
// (case-sensitive, no folding): public.Weird Table is the table created as
// "Weird Table".
type Table struct {
	// Table is "schema.table" with the names as in the catalog, unquoted
	// (split it with SplitTable).
	Table string `yaml:"table"`
	// Subject, when set, replaces the table's subject token (see package
	// capture/subject): the table's changes go to
	// <prefix>.<source>.<schema>.<subject>. A valid NATS subject token.
	Subject string `yaml:"subject,omitempty"`
	// Columns leaves columns out of the table's events or masks them (see
	// Columns). Optional.
	Columns Columns `yaml:"columns,omitempty"`
}

// MarshalYAML writes the entry back in the form it was read from: the
// plain string when there is no override.
func (t Table) MarshalYAML() (any, error) {
	schema, name := SplitTable(t.Table)
	spelled := quoteIfNeeded(schema, strings.ContainsAny(schema, `."`)) + "." + quoteIfNeeded(name, strings.HasPrefix(name, `"`))
	if t.Subject == "" && t.Columns.IsZero() {
		return spelled, nil
	}
	return tableMapping{spelled, t.Subject, t.Columns}, nil
}

// tableMapping is the mapping form of a tables entry in a dump.
type tableMapping struct {
	Table   string  `yaml:"table"`
	Subject string  `yaml:"subject,omitempty"`
	Columns Columns `yaml:"columns,omitempty"`
}

func quoteIfNeeded(s string, need bool) string {
	if !need {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// ParseTable reads a tables entry (see Table); problem is "" or what is wrong.
func ParseTable(s string) (schema, table, problem string) {
	const want = `expected "schema.table" (either part may be in double quotes, "" for a quote)`
	rest := s
	if strings.HasPrefix(s, `"`) {
		var ok bool
		schema, rest, ok = unquote(s)
		if !ok || !strings.HasPrefix(rest, ".") {
			return "", "", want
		}
		rest = rest[1:]
	} else {
		var ok bool
		schema, rest, ok = strings.Cut(s, ".")
		if !ok {
			return "", "", want
		}
	}
	table = rest
	if strings.HasPrefix(rest, `"`) {
		var after string
		var ok bool
		table, after, ok = unquote(rest)
		if !ok || after != "" {
			return "", "", want
		}
	}
	switch {
	case schema == "" || table == "":
		return "", "", want
	case strings.Contains(schema, "."):
		return "", "", "a schema name holding a dot is not supported"
	}
	return schema, table, ""
}

// unquote reads a double-quoted identifier at the start of s.
func unquote(s string) (ident, rest string, ok bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] != '"' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '"' {
			b.WriteByte('"')
			i++
			continue
		}
		return b.String(), s[i+1:], true
	}
	return "", "", false
}

// TableNames returns the "schema.table" of every tables entry (nil for
// every table).
func (s Source) TableNames() []string {
	if len(s.Tables) == 0 {
		return nil
	}
	out := make([]string, len(s.Tables))
	for i, t := range s.Tables {
		out[i] = t.Table
	}
	return out
}

// Subjects returns the subject overrides by "schema.table", or nil.
func (s Source) Subjects() map[string]string {
	var out map[string]string
	for _, t := range s.Tables {
		if t.Subject != "" {
			if out == nil {
				out = map[string]string{}
			}
			out[t.Table] = t.Subject
		}
	}
	return out
}

// Subject is the subject of the changes of schema.table captured by s under
// prefix (capture.subject_prefix): its override or the mapped names.
func (s Source) Subject(prefix, schema, table string) string {
	return subject.Table(prefix, s.Name, schema, table, s.Subjects()[schema+"."+table])
}

func checkSubjectToken(s string) string {
	if !subject.ValidToken(s) {
		return `expected one NATS subject token (printable ASCII without spaces, ".", "*" or ">"), such as weird_table`
	}
	return ""
}
