package config

import (
	"time"

	"go.yaml.in/yaml/v3"
)

// CompareData is one dual-run data comparison (compare_data[]): a legacy
// table and a new table that must tell the same story. Continuous mode
// (`ficus run`) follows both sides' capture streams; `ficus reconcile NAME`
// compares the tables as they are now.
type CompareData struct {
	// Name identifies the comparison in subjects (ficus.data.<name>), the
	// admin API and metrics. Required, unique, matching [a-z0-9_-]+.
	Name string `yaml:"name"`
	// Legacy is the legacy side (e.g. MariaDB). Required.
	Legacy DataSide `yaml:"legacy"`
	// New is the new service's side (e.g. PostgreSQL). Required.
	New DataSide `yaml:"new"`
	// Columns maps legacy column names to new column names, in order;
	// unlisted columns are not compared. At least one is required.
	Columns ColumnPairs `yaml:"columns"`
	// Rules adjust legacy values before comparison. Optional.
	Rules []DataRule `yaml:"rules,omitempty"`
	// MaxLag is how long one side may be behind before a row counts as
	// missing (or as differing). Must be greater than 0. Default: 30s.
	MaxLag time.Duration `yaml:"max_lag"`
	// Plugin names a comparator plugin for what rules cannot say. Optional.
	Plugin string `yaml:"plugin,omitempty"`
	// Where restricts `ficus reconcile` to the rows each side's condition
	// selects. Optional.
	Where DataWhere `yaml:"where,omitempty"`
	// MinAge leaves out of `ficus reconcile` the rows whose updated_at is
	// more recent than this (they are continuous mode's job). At least 1s;
	// requires UpdatedAt. Optional.
	MinAge time.Duration `yaml:"min_age,omitempty"`
	// UpdatedAt names each side's last-modified column, for MinAge.
	UpdatedAt DataUpdatedAt `yaml:"updated_at,omitempty"`
	// Throttle spares busy databases during `ficus reconcile`. Optional.
	Throttle DataThrottle `yaml:"throttle,omitempty"`
}

// DataSide is one table of a comparison.
type DataSide struct {
	// Source names the capture source (capture.sources[].name) whose
	// database holds the table and whose stream carries its changes.
	// Required.
	Source string `yaml:"source"`
	// Table is "schema.table" (for mysql: database.table). Required
	// unless Query is set; never with it.
	Table string `yaml:"table,omitempty"`
	// Query, instead of Table, is one SELECT in the side's dialect whose
	// result is the side's rows (a reshaped schema: a join, an
	// aggregate); Key and the side's Columns name its output columns.
	// `ficus reconcile` compares it as the derived table
	// "(query) AS ficus_q"; continuous mode follows QueryTables. Checked
	// at load (one statement, no ';', SELECT or WITH first) and at start
	// (quotes, comments, parentheses, EXPLAIN). Optional.
	Query string `yaml:"query,omitempty"`
	// QueryTables are the captured tables ("schema.table") a Query reads,
	// for continuous mode: a change of any of them has the query read
	// again for the keys it touches. Without them `ficus run` refuses the
	// query side. Only with Query.
	QueryTables []string `yaml:"query_tables,omitempty,flow"`
	// KeyFrom names, per table of QueryTables, the columns of its rows
	// that hold the comparison's key, in key order (for order_items:
	// [order_id]); a table not named holds it in columns named as Key.
	// Only with Query.
	KeyFrom map[string][]string `yaml:"key_from,omitempty"`
	// Key is the key columns (for example [id] or [order_id, line_no]):
	// any number, the same number on both sides, paired in order; integer,
	// decimal, text, UUID, binary, date or timestamp columns (see
	// canon.KeySQL). Required.
	Key []string `yaml:"key,flow"`
}

// ColumnPair is one legacy column and the new column it is compared with.
type ColumnPair struct{ Legacy, New string }

// ColumnPairs keeps the file's order of compare_data[].columns.
type ColumnPairs []ColumnPair

// MarshalYAML writes the pairs as the mapping they were read from.
func (c ColumnPairs) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, p := range c {
		n.Content = append(n.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Value: p.Legacy},
			&yaml.Node{Kind: yaml.ScalarNode, Value: p.New})
	}
	return n, nil
}

// DataRule adjusts the values of one legacy column before comparison:
// scale first, then map.
type DataRule struct {
	// Column is a legacy column listed in columns. Required.
	Column string `yaml:"column"`
	// Scale multiplies legacy numbers exactly, a decimal greater than 0
	// such as 100 (new stores cents) or 0.01. Optional.
	Scale string `yaml:"scale,omitempty"`
	// Map replaces whole legacy values (legacy value: new value); values
	// not listed are kept. Optional.
	Map map[string]string `yaml:"map,omitempty"`
}

func defaultCompareData() CompareData { return CompareData{MaxLag: 30 * time.Second} }
