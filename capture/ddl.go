package capture

// DDLSubject is the subject suffix of schema events: <prefix>.<source>._ddl.
const DDLSubject = "_ddl"

// DDLType is the ce-type of schema events.
const DDLType = "io.ficus.cdc.ddl"

// DDLEvent is the body of a schema event, shared by the readers. MySQL/MariaDB
// publish the statement as run (DDL); PostgreSQL has no statement in its log
// and publishes the table's column lists before and after the change instead.
type DDLEvent struct {
	DDL     string        `json:"ddl,omitempty"`
	Schema  string        `json:"schema"`
	Table   string        `json:"table,omitempty"`
	Columns *ColumnChange `json:"columns,omitempty"`
	Source  SourceMeta    `json:"source"`
}

// ColumnChange is a table's columns, in table order, before and after a
// schema change. Neither list is ever null (a table may have no columns).
type ColumnChange struct {
	Before []Column `json:"before"`
	After  []Column `json:"after"`
}

// Column is one column of a table's shape: its name and its type as the
// database spells it (e.g. "character varying(20)").
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}
