package main

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/ficus-migrate/ficus/plugins/sdk"
)

// rows is the row comparator (compare_data[].plugin: order-mapper). ficus
// asks it only about orders whose canonical values differ after the
// entry's rules, and it accepts two differences that rules cannot say:
//
//   - totals apart by at most the tolerance (MAPPER_TOLERANCE, a decimal in
//     the total column's unit, default 0.01: one cent), because the legacy
//     shop rounded every line while the new service rounds the sum;
//   - statuses in a one-to-many relation: the new service splits legacy's
//     shipped into shipped and delivered, and cancelled into cancelled and
//     refunded. Legacy codes (N, P, S, C) and words both work, so the entry
//     needs no map rule for status.
//
// Columns are recognised by their new names: total or amount for totals,
// state or status for statuses. Any other differing column stays
// different, and so does NULL against a value.
type rows struct{ tolerance *big.Rat }

// allowed lists, per legacy status word, the new states that tell the same.
var allowed = map[string][]string{
	"new":       {"new"},
	"paid":      {"paid"},
	"shipped":   {"shipped", "delivered"},
	"cancelled": {"cancelled", "refunded"},
}

func (r rows) CompareRows(_ context.Context, _ string, legacyColumns, newColumns []string, pairs []sdk.RowPair) ([]sdk.Judgement, error) {
	out := make([]sdk.Judgement, len(pairs))
	for i, p := range pairs {
		var cols []int
		var why []string
		for c, name := range newColumns {
			l, n := p.Legacy[c], p.New[c]
			if l == n {
				continue
			}
			if reason := r.differs(name, l, n); reason != "" {
				cols = append(cols, c)
				why = append(why, legacyColumns[c]+"→"+name+": "+reason)
			}
		}
		if len(cols) == 0 {
			out[i].Equal = true
			continue
		}
		out[i] = sdk.Judgement{Columns: cols, Reason: strings.Join(why, "; ")}
	}
	return out, nil
}

// differs says why l and n differ for column name, or "" if they do not.
func (r rows) differs(name string, l, n sdk.Value) string {
	if l.Null || n.Null {
		return "NULL on one side"
	}
	switch name {
	case "total", "amount":
		a, okA := new(big.Rat).SetString(l.Text)
		b, okB := new(big.Rat).SetString(n.Text)
		if !okA || !okB {
			return "not both numbers"
		}
		d := a.Sub(a, b)
		if d.Abs(d).Cmp(r.tolerance) <= 0 {
			return ""
		}
		return fmt.Sprintf("apart by %s, more than the %s of rounding allowed", decimal(d), decimal(r.tolerance))
	case "state", "status":
		word := strings.ToLower(l.Text)
		if w, ok := statuses[l.Text]; ok {
			word = w
		}
		if slices.Contains(allowed[word], n.Text) {
			return ""
		}
		return fmt.Sprintf("legacy %q allows %v, not %q", l.Text, allowed[word], n.Text)
	}
	return "values differ"
}

// parseTolerance reads MAPPER_TOLERANCE: a decimal of at least 0.
func parseTolerance(s string) (*big.Rat, error) {
	if s == "" {
		s = "0.01"
	}
	t, ok := new(big.Rat).SetString(s)
	if !ok || t.Sign() < 0 || strings.ContainsAny(s, "/eE") {
		return nil, fmt.Errorf("MAPPER_TOLERANCE %q: want a decimal of at least 0, such as 0.01", s)
	}
	return t, nil
}

// decimal prints r in plain decimal notation without trailing zeros.
func decimal(r *big.Rat) string {
	s := r.FloatString(6)
	return strings.TrimRight(strings.TrimRight(s, "0"), ".")
}
