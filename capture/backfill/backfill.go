package backfill

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
	"github.com/ficus-migrate/ficus/shadow/data/reconcile"
)

// Defaults.
const (
	// DefaultBucket is the JetStream KV bucket of backfill state, key <source>.
	DefaultBucket = "ficus_backfill"
	// DefaultChunk is the rows per chunk when a request gives none.
	DefaultChunk = 10000
	// MaxChunk bounds a chunk held in memory between its two watermarks.
	MaxChunk = 100000
	// DefaultSignalTable is the signal table's name when
	// capture.sources[].signal_table is not set.
	DefaultSignalTable = "ficus_signal"
)

// Kind is a watermark's kind, the signal table's type column.
type Kind string

// Watermark kinds.
const (
	Low  Kind = "backfill-low"
	High Kind = "backfill-high"
)

// Request is one backfill: POST /api/capture/{source}/backfill's body and
// `ficus capture backfill SOURCE TABLE [--where SQL] [--chunk N]`.
type Request struct {
	// Table is the captured table, as in capture.sources[].tables
	// ("schema.table" on PostgreSQL, "db.table" on MySQL/MariaDB).
	Table string `json:"table"`
	// Where, optional, restricts the rows read: one SQL condition.
	Where string `json:"where,omitempty"`
	// Chunk is the rows per chunk [DefaultChunk].
	Chunk int `json:"chunk,omitempty"`
}

// Normalize fills the defaults and checks what can be checked without the
// database: the table's form, the chunk size and the where fragment
// (reconcile.CheckWhere: one condition, no second statement, no comment).
// The engine checks the rest (Engine.Check runs EXPLAIN).
func (r *Request) Normalize(e canon.Engine) error {
	r.Table = strings.TrimSpace(r.Table)
	if s, t, ok := strings.Cut(r.Table, "."); !ok || s == "" || t == "" {
		return fmt.Errorf("table %q: want schema.table", r.Table)
	}
	switch {
	case r.Chunk == 0:
		r.Chunk = DefaultChunk
	case r.Chunk < 1 || r.Chunk > MaxChunk:
		return fmt.Errorf("chunk %d: want 1 to %d rows", r.Chunk, MaxChunk)
	}
	if r.Where != "" {
		if err := reconcile.CheckWhere(e, r.Where); err != nil {
			return fmt.Errorf("where: %w", err)
		}
	}
	return nil
}

// Job is a queued or running backfill with its progress; it is what the KV
// bucket holds.
type Job struct {
	ID string `json:"id"`
	Request
	Queued time.Time `json:"queued"`
	// Started is when its first chunk was read (zero while queued).
	Started time.Time `json:"started,omitzero"`
	// Last is the key of the last row of the last finished chunk, one text
	// value per primary key column; nil before the first chunk.
	Last []string `json:"last,omitempty"`
	// Chunks and Rows are finished chunks and rows published (rows left
	// out because a change streamed in their window are not counted).
	Chunks int64 `json:"chunks"`
	Rows   int64 `json:"rows"`
	// Read is the rows the finished chunks read.
	Read int64 `json:"read"`
}

// Chunk is what Engine.Chunk read.
type Chunk struct {
	// Rows are the rows in key order, as op "r" changes without ID (the
	// reader gives them one at the high watermark).
	Rows []Row
	// Last is the key of the last row, as text, for the next chunk.
	Last []string
}

// Row is one row of a chunk.
type Row struct {
	// Key is KeyString of the row's primary key: the same value the
	// reader computes from a streamed change's Key.
	Key    string
	Change *capture.Change
}

// KeyString encodes a change's key for the window comparison: a streamed
// change and a chunk row of the same key give the same string, as both are
// converted by the same reader.
func KeyString(table string, key capture.Row) (string, error) {
	b, err := key.MarshalJSON()
	if err != nil {
		return "", fmt.Errorf("encode key of %s: %w", table, err)
	}
	return string(b), nil
}

// ErrNotActive is Manager.Enqueue's answer on a process that is not streaming
// the source (a standby, or between reconnects).
var ErrNotActive = errors.New("this process is not streaming the source now (a standby, or reconnecting); send the request to the active process")

// BadRequestError is a request the engine refused (unknown table, no primary
// key, a where condition the database cannot run).
type BadRequestError struct{ Err error }

func (e *BadRequestError) Error() string { return e.Err.Error() }
func (e *BadRequestError) Unwrap() error { return e.Err }

// BadRequest wraps err as a BadRequestError.
func BadRequest(err error) error {
	if err == nil {
		return nil
	}
	return &BadRequestError{Err: err}
}
