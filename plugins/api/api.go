// Package api holds the types a ficus plugin works with: change events and
// transformers for capture, answer pairs and comparators for shadowed
// routes, row pairs and row comparators for compare_data. It depends on the
// standard library and shadow/data/canon only, so that capture, shadow and proxy
// can use plugins without pulling in the process and gRPC machinery
// (plugins/host and plugins/sdk bring that; plugin authors import
// plugins/sdk, which names these same types).
package api

import (
	"context"
	"net/http"
	"time"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// Event is one captured change event as it will be published to JetStream.
type Event struct {
	// ID is the de-duplication id (Nats-Msg-Id, ce-id). A transform that
	// splits an event must derive the new ids from this one (see Event.Derive)
	// so that a retried batch publishes the same ids and JetStream drops the
	// repeats.
	ID string
	// Subject is the full NATS subject, <prefix>.<source>.<schema>.<table>.
	// It may be changed to re-route the event, keeping the <prefix>.<source>.
	// part: the source's stream only holds those subjects.
	Subject string
	// Type is the CloudEvents type, e.g. io.ficus.cdc.create.
	Type string
	// Time is when ficus processed the change (ce-time).
	Time time.Time
	// Data is the Debezium-style JSON envelope
	// {"op","before","after","key","source","ts_ms"}.
	Data []byte
}

// Derive returns a copy of e with the id <e.ID>/<suffix>, for the parts of a
// split event.
func (e Event) Derive(suffix string) Event {
	e.ID = e.ID + "/" + suffix
	return e
}

// Transformer rewrites a batch of change events: edit, drop, split or
// re-route. It must be deterministic (the same batch in gives the same batch
// out) because a batch is retried after a crash or a timeout. The events
// returned are published in order; an implementation may return (part of) the
// input slice.
type Transformer interface {
	Transform(ctx context.Context, source string, batch []Event) ([]Event, error)
}

// Answer is one HTTP answer; Body is capped at the route's max_body_bytes.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// Pair is one mirrored request with the answers of both sides.
type Pair struct {
	Route, Method, Path string
	Legacy, New         Answer
}

// Verdict says what ficus does with a compared pair.
type Verdict int

const (
	// VerdictDiff asks ficus to diff the returned (normalized) pair with the route's rules.
	VerdictDiff Verdict = iota
	// VerdictEqual says the answers are equivalent.
	VerdictEqual
	// VerdictDifferent says the answers differ for Reason.
	VerdictDifferent
)

func (v Verdict) String() string {
	switch v {
	case VerdictDiff:
		return "diff"
	case VerdictEqual:
		return "equal"
	case VerdictDifferent:
		return "different"
	}
	return "unknown"
}

// Result is the outcome for one pair.
type Result struct {
	// Pair is the pair after normalization.
	Pair    Pair
	Verdict Verdict
	Reason  string
}

// Comparator normalizes or judges a batch of answer pairs before the shadow
// diff. It returns exactly one result per pair, in order.
type Comparator interface {
	Compare(ctx context.Context, pairs []Pair) ([]Result, error)
}

// The row comparison types are package canon's own, so that a plugin gets
// exactly what the host's comparison holds: see canon.RowPair and
// canon.Judgement.
type (
	// Value is one canonical column value; Null distinguishes SQL NULL from
	// the empty string.
	Value = canon.Value
	// RowPair is one differing key with both rows' compared values.
	RowPair = canon.RowPair
	// Judgement is the answer for one RowPair.
	Judgement = canon.Judgement
)

// RowComparator judges rows of a compare_data entry that ficus's own
// comparison (canonical values, rules applied) found different: it is asked
// only about such keys, in batches. It returns exactly one Judgement per
// pair, in order, and must be deterministic (a batch is retried after a
// crash or a timeout). comparison is the compare_data name; legacyColumns
// and newColumns name the values' columns, pairing up by position.
type RowComparator interface {
	CompareRows(ctx context.Context, comparison string, legacyColumns, newColumns []string, pairs []RowPair) ([]Judgement, error)
}
