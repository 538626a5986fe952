package reconcile

import (
	"time"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// Finding kinds.
const (
	MissingInNew    = "missing_in_new"
	MissingInLegacy = "missing_in_legacy"
	Differs         = "differs"
)

// Difference is one key whose rows are not equal.
type Difference struct {
	// Key is the key of a single integer key column; Tuple, when not nil,
	// the key of any other key (canonical texts; Key is then 0).
	Key   int64
	Tuple canon.Key
	Kind  string // MissingInNew, MissingInLegacy or Differs
	// Columns are the differing column pairs (Differs only), in mapping order.
	Columns []ColumnDiff
	// Reason is the comparator plugin's explanation (Differs only).
	Reason string
	// LegacyRow and NewRow are both rows' canonical values in the order of
	// Table.Columns (legacy's after its rules), nil for a missing row: what
	// --output jsonl and the repair SQL write.
	LegacyRow, NewRow []canon.Value
}

// ColumnDiff is one differing column pair with both canonical values
// (the legacy one after its rules).
type ColumnDiff struct {
	Legacy, New       string // column names
	LegacyVal, NewVal canon.Value
}

// Stats says what the comparison cost.
type Stats struct {
	LegacyRows, NewRows int64 // rows in each table
	// Checksums is the number of range scans (each summing its buckets),
	// per side.
	Checksums int64
	// Fetched is the number of rows read row by row, both sides together.
	Fetched int64
	// RowSums is the number of range scans that summed row hashes because
	// a bucket's text was too large to digest (see Side.Checksums).
	RowSums int64
	// Method is how buckets were checksummed: MethodDigest or
	// MethodRowSums (a key no index reads in key order at the cost of its
	// rows, see tupleSums); SampledKeys is how many keys a sample drew to
	// cut the first level (see tuple_sample.go).
	Method      string
	SampledKeys int64
	// LegacyDBTime and NewDBTime add up how long each side's queries took,
	// as the client saw them.
	LegacyDBTime, NewDBTime time.Duration
	Wall                    time.Duration
	// Pauses is how many times the run waited for a server's load, its
	// replica lag or the pause file (Throttle), Paused how long in all;
	// RateWait is how long it waited for Throttle.RateLimit.
	Pauses           int64
	Paused, RateWait time.Duration
	// Resumed is true when the run continued kept progress (Config.Resume);
	// EarlierChecksums is how many range scans the earlier runs had
	// finished (Checksums counts this run's only).
	Resumed          bool
	EarlierChecksums int64
}

// Stats.Method values.
const (
	MethodDigest  = "digest"
	MethodRowSums = "row sums"
)

// Result is the outcome of Run: every difference, in key order.
type Result struct {
	Differences []Difference
	Stats       Stats
	// KeyKinds are the key columns' kinds when the key is compared by
	// tuples (Difference.Tuple), nil for a single integer key column.
	KeyKinds []canon.Kind
	// NewKeyTypes are the new side's key column types when the key is
	// compared by tuples: a UUID repaired into a binary column is written
	// as its 16 bytes.
	NewKeyTypes []string `json:",omitempty"`
}
