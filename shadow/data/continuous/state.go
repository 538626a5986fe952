// Package continuous compares a legacy table and a new table continuously while
// both run side by side: it follows both sides' change streams (ficus
// capture, on JetStream), keeps the latest canonical state of every key of
// each side in a JetStream key-value bucket, and when the two sides still
// disagree max_lag after they first did, reports the key: missing in new,
// missing in legacy, differs (columns and both values) or deleted on one
// side only. A key that converges later is reported again as resolved.
//
// A key of one integer column is the integer; any other key (several
// columns, or a decimal, text, UUID, binary, date or timestamp column) is
// the JSON array of its columns' canonical texts (see Key, canon.Key), by
// which the state is keyed and which findings show.
package continuous

import (
	"encoding/json"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// Finding kinds, as they appear on FICUS_DATA and in the figures.
const (
	KindMissingInNew    = "missing_in_new"
	KindMissingInLegacy = "missing_in_legacy"
	KindDiffers         = "differs"
	KindDeletedOneSide  = "deleted_on_one_side"
	KindResolved        = "resolved"
)

// Key states besides the finding kinds.
const (
	statusMatch   = "match"
	statusPending = "pending"
)

// sideState is the latest change one side has seen for a key.
type sideState struct {
	Seen    bool      `json:"s,omitempty"`
	Deleted bool      `json:"d,omitempty"`
	Values  []*string `json:"v,omitempty"` // canonical values; nil is NULL
	At      int64     `json:"t,omitempty"` // commit time of the change, ms
	// Seq is the change's sequence in its capture stream: the stream is in
	// commit order, so an older change arriving late (redelivered, or
	// handled by another ficus on the same consumer) is recognised.
	Seq uint64 `json:"q,omitempty"`
}

func (s sideState) present() bool { return s.Seen && !s.Deleted }

// keyState is what the bucket holds per key.
type keyState struct {
	Legacy sideState `json:"l"`
	New    sideState `json:"n"`
	// Status is match, pending, or the kind last reported.
	Status string `json:"st"`
	// Since is when the sides started to disagree (local ms), for pending.
	Since int64 `json:"since,omitempty"`
}

func (k *keyState) encode() []byte {
	b, _ := json.Marshal(k) // plain strings and numbers: cannot fail
	return b
}

// verdict says how the two sides of a key compare right now: statusMatch or
// a finding kind, and for differs the differing column indexes.
func verdict(k *keyState) (string, []int) {
	l, n := k.Legacy, k.New
	switch {
	case !l.present() && !n.present():
		return statusMatch, nil // absent on both sides, deleted or never written
	case l.present() && !n.present():
		if n.Deleted {
			return KindDeletedOneSide, nil
		}
		return KindMissingInNew, nil
	case !l.present() && n.present():
		if l.Deleted {
			return KindDeletedOneSide, nil
		}
		return KindMissingInLegacy, nil
	}
	var cols []int
	for i := range l.Values {
		if i >= len(n.Values) || !sameValue(l.Values[i], n.Values[i]) {
			cols = append(cols, i)
		}
	}
	if cols != nil {
		return KindDiffers, cols
	}
	return statusMatch, nil
}

func sameValue(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func toPtrs(vals []canon.Value) []*string {
	out := make([]*string, len(vals))
	for i, v := range vals {
		if !v.Null {
			s := v.Text
			out[i] = &s
		}
	}
	return out
}

func fromPtrs(vals []*string) []canon.Value {
	out := make([]canon.Value, len(vals))
	for i, v := range vals {
		if v == nil {
			out[i] = canon.Value{Null: true}
		} else {
			out[i] = canon.Value{Text: *v}
		}
	}
	return out
}

func isFinding(status string) bool {
	switch status {
	case KindMissingInNew, KindMissingInLegacy, KindDiffers, KindDeletedOneSide:
		return true
	}
	return false
}
