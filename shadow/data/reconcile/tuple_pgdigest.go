package reconcile

import (
	"fmt"
	"strings"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// pgDigestSQL is PostgreSQL's digest query over the buckets of kr: the
// buckets with both ends go to one LATERAL subquery over arrays of their
// bounds, as integer keys' digest does, planned once however many buckets
// there are — a UNION ALL part per bucket took ~9 ms of planning each
// (a first level of 333 buckets: 0.3 s a query). The buckets with an open
// end (the key space's first and last) are UNION ALL parts of their own.
func (tq *tupleQueries) pgDigestSQL(kr keyRange, bounds []canon.Key) (string, []any) {
	p := canon.NewParams(tq.e)
	n := len(tq.key.Columns())
	var idx []int64
	los, his := make([][]string, n), make([][]string, n)
	type openBucket struct {
		i  int
		kr keyRange
	}
	var open []openBucket
	lo := kr.lo
	for i := 0; i <= len(bounds); i++ {
		hi := kr.hi
		if i < len(bounds) {
			hi = bounds[i]
		}
		if lo == nil || hi == nil {
			open = append(open, openBucket{i, keyRange{lo: lo, hi: hi}})
		} else {
			idx = append(idx, int64(i))
			for c := range n {
				los[c] = append(los[c], lo[c])
				his[c] = append(his[c], hi[c])
			}
		}
		lo = hi
	}
	digest := func(where string) string {
		// Ordered in a subquery: an index scan gives the order for free,
		// where an ordered aggregate always sorts.
		return fmt.Sprintf("COUNT(*) AS c, COALESCE(%s, '') AS h FROM (SELECT %s AS r FROM %s%s ORDER BY %s) o",
			canon.DigestExpr(tq.e, "o.r", ""), tq.rowText, tq.from, where, tq.key.OrderBy())
	}
	var parts []string
	if len(idx) > 0 {
		arrays := []string{p.Add(idx) + "::int8[]"}
		cols := []string{"b"}
		loCols, hiCols := make([]string, n), make([]string, n)
		for c := range n {
			arrays = append(arrays, p.Add(los[c])+"::text[]")
			loCols[c] = fmt.Sprintf("u.l%d", c)
			cols = append(cols, fmt.Sprintf("l%d", c))
		}
		for c := range n {
			arrays = append(arrays, p.Add(his[c])+"::text[]")
			hiCols[c] = fmt.Sprintf("u.h%d", c)
			cols = append(cols, fmt.Sprintf("h%d", c))
		}
		where := " WHERE " + tq.key.NotNull() + " AND " + tq.key.CompareExprs(">", loCols) + " AND " +
			tq.key.CompareExprs("<=", hiCols) + tq.window
		parts = append(parts, "SELECT u.b, s.c, s.h FROM unnest("+strings.Join(arrays, ", ")+") AS u("+strings.Join(cols, ", ")+
			"), LATERAL (SELECT "+digest(where)+") s")
	}
	for _, o := range open {
		parts = append(parts, fmt.Sprintf("SELECT %d::int8 AS b, %s", o.i, digest(tq.where(p, o.kr)+tq.window)))
	}
	return strings.Join(parts, " UNION ALL "), p.Args
}
