package reconcile

import "github.com/ficus-migrate/ficus/shadow/data/canon"

// DiffRows merges two key-ordered row lists and returns their differences.
// A key repeated on one side is compared once; its extra rows are ignored
// (a reconciled key is meant to be unique on both sides).
func DiffRows(legacyCols, newCols []string, legacy, new []Row) []Difference {
	var out []Difference
	i, j := 0, 0
	for i < len(legacy) || j < len(new) {
		switch {
		case j >= len(new) || (i < len(legacy) && legacy[i].Key < new[j].Key):
			out = append(out, Difference{Key: legacy[i].Key, Kind: MissingInNew, LegacyRow: legacy[i].Values})
			i = skip(legacy, i)
		case i >= len(legacy) || new[j].Key < legacy[i].Key:
			out = append(out, Difference{Key: new[j].Key, Kind: MissingInLegacy, NewRow: new[j].Values})
			j = skip(new, j)
		default:
			if cols := diffValues(legacyCols, newCols, legacy[i].Values, new[j].Values); cols != nil {
				out = append(out, Difference{Key: legacy[i].Key, Kind: Differs, Columns: cols,
					LegacyRow: legacy[i].Values, NewRow: new[j].Values})
			}
			i, j = skip(legacy, i), skip(new, j)
		}
	}
	return out
}

func skip(rows []Row, i int) int {
	k := rows[i].Key
	for i < len(rows) && rows[i].Key == k {
		i++
	}
	return i
}

func diffValues(lc, nc []string, lv, nv []canon.Value) []ColumnDiff {
	var out []ColumnDiff
	for c := range lv {
		if lv[c] != nv[c] {
			out = append(out, ColumnDiff{Legacy: lc[c], New: nc[c], LegacyVal: lv[c], NewVal: nv[c]})
		}
	}
	return out
}
