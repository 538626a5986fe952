// Package capture holds the source-agnostic change-data-capture types shared by
// every CDC source (capture/postgres; capture/mysql for MySQL and MariaDB) and
// the JetStream sink (capture/sink).
package capture

import (
	"errors"
	"time"
)

// Op is the kind of row change, encoded exactly as in the Debezium envelope.
type Op string

// The operations, with Debezium's one-letter codes.
const (
	OpCreate   Op = "c" // row inserted
	OpUpdate   Op = "u" // row updated
	OpDelete   Op = "d" // row deleted
	OpRead     Op = "r" // row read by the initial snapshot
	OpTruncate Op = "t" // table truncated
)

// Name is the long form used in the CloudEvents type, e.g. io.ficus.cdc.create.
func (o Op) Name() string {
	switch o {
	case OpCreate:
		return "create"
	case OpUpdate:
		return "update"
	case OpDelete:
		return "delete"
	case OpRead:
		return "read"
	case OpTruncate:
		return "truncate"
	}
	return "unknown"
}

// Position is an opaque, source-defined point in the source's change log.
// The sink never orders positions itself: it only hands back the last one the
// source marked whose preceding events are all durable, so each source keeps
// its own encoding (LSN, binlog file+offset, GTID set...).
type Position interface {
	String() string
}

// Field is one column of a row. A slice of fields keeps the table's column
// order in the JSON output, which a map would not.
type Field struct {
	Name  string
	Value any // JSON-ready: nil, bool, string, json.Number, json.RawMessage, []any
}

// Row is an ordered set of columns; it marshals as a JSON object.
type Row []Field

// Get returns the value of the named column.
func (r Row) Get(name string) (any, bool) {
	for _, f := range r {
		if f.Name == name {
			return f.Value, true
		}
	}
	return nil, false
}

// MarshalJSON writes the row as an object in column order; a nil row is null.
func (r Row) MarshalJSON() ([]byte, error) {
	return r.appendJSON(nil)
}

// SourceMeta is the "source" block of the envelope. LSN, TxID and CommitLSN are
// PostgreSQL terms; other sources leave them empty and they are omitted.
type SourceMeta struct {
	Connector string `json:"connector"`
	Name      string `json:"name"`
	DB        string `json:"db"`
	Schema    string `json:"schema"`
	Table     string `json:"table"`
	LSN       string `json:"lsn,omitempty"`
	TxID      uint32 `json:"tx_id,omitempty"`
	CommitLSN string `json:"commit_lsn,omitempty"`
	Snapshot  bool   `json:"snapshot"`
	// TsMs is the commit time (streaming) or the snapshot start time.
	TsMs int64 `json:"ts_ms"`
	// UnchangedToast lists columns whose value PostgreSQL did not send because it
	// is an unchanged out-of-line (TOAST) value; they are absent from "after".
	UnchangedToast []string `json:"unchanged_toast,omitempty"`
	// File, Pos, GTID and ServerID are MySQL/MariaDB terms: the binlog file and
	// offset of the event, the GTID of its transaction and the server that
	// originally wrote it. Other sources leave them empty.
	File     string `json:"file,omitempty"`
	Pos      uint32 `json:"pos,omitempty"`
	GTID     string `json:"gtid,omitempty"`
	ServerID uint32 `json:"server_id,omitempty"`
}

// Change is one row change. ID is the de-duplication id (Nats-Msg-Id): it must be
// derived only from the change's place in the source log so that re-publishing
// the same change after a restart yields the same id.
type Change struct {
	Op       Op
	Before   Row
	After    Row
	Key      Row
	Source   SourceMeta
	Position Position
	ID       string
	// Time is when ficus processed the change (envelope ts_ms).
	Time time.Time
}

// Envelope encodes the Debezium-style JSON payload (without schema):
// {"op","before","after","key","source","ts_ms"}; see AppendEnvelope.
func (c *Change) Envelope() ([]byte, error) {
	return c.AppendEnvelope(make([]byte, 0, 512))
}

// PermanentError marks a failure that retrying cannot fix (bad configuration,
// missing prerequisite); Run loops return it instead of backing off.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError (nil stays nil).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err (or anything it wraps) is permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}
