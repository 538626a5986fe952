package canon

import "context"

// RowPair is one key whose rows the built-in comparison (canonical values,
// rules applied) found different, handed to a Judge for a second opinion.
type RowPair struct {
	// Key is the key's text (the key column's canonical value).
	Key string
	// Legacy and New are the compared columns' canonical values, in mapping
	// order; Legacy's have the rules applied.
	Legacy, New []Value
}

// Judgement is a Judge's answer for one RowPair.
type Judgement struct {
	// Equal says the rows are equivalent after all: the key counts as a
	// match.
	Equal bool
	// Columns, when not Equal, are the indexes (mapping order) of the
	// columns that differ; nil keeps the built-in comparison's columns.
	Columns []int
	// Reason, when not Equal, says why in the judge's words (reported with
	// the finding).
	Reason string
}

// Judge decides rows the built-in comparison cannot: the comparator
// plugin of a compare_data entry. It is consulted only for keys whose
// canonical values differ, so equal data never pays for it, and it gets
// whole batches. It must be deterministic: the same pairs give the same
// judgements.
type Judge interface {
	// Judge returns exactly one Judgement per pair, in order. comparison
	// is the compare_data name; legacyColumns and newColumns name the
	// values' columns.
	Judge(ctx context.Context, comparison string, legacyColumns, newColumns []string, pairs []RowPair) ([]Judgement, error)
}
