package reconcile

import (
	"cmp"
	"strconv"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// DiffRows merges two key-ordered row lists and returns their differences.
// A key repeated on one side is compared once; its extra rows are ignored
// (a reconciled key is meant to be unique on both sides).
func DiffRows(legacyCols, newCols []string, legacy, new []Row) []Difference {
	return diffRows(legacyCols, newCols, legacy, new, func(a, b Row) int { return cmp.Compare(a.Key, b.Key) })
}

// diffRows is DiffRows for rows in the order of order.
func diffRows(legacyCols, newCols []string, legacy, new []Row, order func(a, b Row) int) []Difference {
	var out []Difference
	i, j := 0, 0
	for i < len(legacy) || j < len(new) {
		c := 0
		switch {
		case j >= len(new):
			c = -1
		case i >= len(legacy):
			c = 1
		default:
			c = order(legacy[i], new[j])
		}
		switch {
		case c < 0:
			out = append(out, Difference{Key: legacy[i].Key, Tuple: legacy[i].Tuple, Kind: MissingInNew, LegacyRow: legacy[i].Values})
			i = skip(legacy, i, order)
		case c > 0:
			out = append(out, Difference{Key: new[j].Key, Tuple: new[j].Tuple, Kind: MissingInLegacy, NewRow: new[j].Values})
			j = skip(new, j, order)
		default:
			if cols := diffValues(legacyCols, newCols, legacy[i].Values, new[j].Values); cols != nil {
				out = append(out, Difference{Key: legacy[i].Key, Tuple: legacy[i].Tuple, Kind: Differs, Columns: cols,
					LegacyRow: legacy[i].Values, NewRow: new[j].Values})
			}
			i, j = skip(legacy, i, order), skip(new, j, order)
		}
	}
	return out
}

func skip(rows []Row, i int, order func(a, b Row) int) int {
	k := rows[i]
	for i < len(rows) && order(rows[i], k) == 0 {
		i++
	}
	return i
}

// id is the row's key as a map key.
func (r Row) id() string {
	if r.Tuple != nil {
		return r.Tuple.JSON()
	}
	return strconv.FormatInt(r.Key, 10)
}

// keyText is the difference's key as people read it: the integer, or
// the tuple as a JSON array of canonical texts, such as ["1042","7"].
func (d Difference) keyText() string {
	if d.Tuple != nil {
		return d.Tuple.String()
	}
	return strconv.FormatInt(d.Key, 10)
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

// keyID is the difference's key for a comparator plugin (canon.RowPair):
// the integer, or the tuple as a JSON array of canonical texts.
func (d Difference) keyID() string {
	if d.Tuple != nil {
		return d.Tuple.JSON()
	}
	return strconv.FormatInt(d.Key, 10)
}
