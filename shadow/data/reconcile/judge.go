package reconcile

import (
	"context"
	"fmt"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// judge hands the differing keys of one leaf to the Judge in one batch and
// keeps what it still calls different. Missing rows are not its business.
func (r *run) judge(ctx context.Context, diffs []Difference, lrows, nrows []Row) ([]Difference, error) {
	var pairs []canon.RowPair
	var at []int // index in diffs of each pair
	for i, d := range diffs {
		if d.Kind != Differs {
			continue
		}
		pairs = append(pairs, canon.RowPair{Key: d.keyID(),
			Legacy: r.rowOf(lrows, d).Values, New: r.rowOf(nrows, d).Values})
		at = append(at, i)
	}
	if len(pairs) == 0 {
		return diffs, nil
	}
	lc, nc := r.cfg.Legacy.Table().Columns, r.cfg.New.Table().Columns
	js, err := r.cfg.Judge.Judge(ctx, r.cfg.Name, lc, nc, pairs)
	if err != nil {
		return nil, fmt.Errorf("comparator plugin: %w", err)
	}
	if len(js) != len(pairs) {
		return nil, fmt.Errorf("comparator plugin answered %d judgements for %d pairs", len(js), len(pairs))
	}
	equal := make(map[int]bool, len(js))
	for n, j := range js {
		i := at[n]
		if j.Equal {
			equal[i] = true
			continue
		}
		diffs[i].Reason = j.Reason
		if j.Columns == nil {
			continue
		}
		cols := make([]ColumnDiff, 0, len(j.Columns))
		for _, c := range j.Columns {
			if c < 0 || c >= len(lc) {
				return nil, fmt.Errorf("comparator plugin named column %d of %d", c, len(lc))
			}
			p := pairs[n]
			cols = append(cols, ColumnDiff{Legacy: lc[c], New: nc[c], LegacyVal: p.Legacy[c], NewVal: p.New[c]})
		}
		diffs[i].Columns = cols
	}
	out := diffs[:0]
	for i, d := range diffs {
		if !equal[i] {
			out = append(out, d)
		}
	}
	return out, nil
}

// rowOf finds key in key-ordered rows (the first row of a repeated key, as
// DiffRows compares).
func (r *run) rowOf(rows []Row, d Difference) Row {
	lo, hi := 0, len(rows)
	less := func(row Row) bool { return row.Key < d.Key }
	if d.Tuple != nil {
		less = func(row Row) bool { return canon.CompareKeys(r.keyKinds, row.Tuple, d.Tuple) < 0 }
	}
	for lo < hi {
		m := (lo + hi) / 2
		if less(rows[m]) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return rows[lo]
}
