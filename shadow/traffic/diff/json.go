package diff

import (
	"bytes"
	"encoding/json"
	"slices"
	"sort"
	"strconv"
)

// decodeJSON parses exactly one JSON value, numbers kept as json.Number so
// that big integers and decimals compare exactly.
func decodeJSON(b []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if len(bytes.TrimSpace(b[dec.InputOffset():])) != 0 {
		return nil, false
	}
	return v, true
}

func (c *Comparator) compareJSON(col *collector, a, b []byte) {
	va, okA := decodeJSON(a)
	vb, okB := decodeJSON(b)
	switch {
	case !okA && !okB:
		compareHash(col, Answer{Body: a}, Answer{Body: b})
		return
	case !okA:
		col.add(Diff{Path: "$", Kind: KindType, Legacy: invalidValue(a), New: encodeValue(vb)})
		return
	case !okB:
		col.add(Diff{Path: "$", Kind: KindType, Legacy: encodeValue(va), New: invalidValue(b)})
		return
	}
	budget := 4*(len(a)+len(b)) + 1<<16
	w := walker{c: c, col: col, path: make([]seg, 0, 16), budget: &budget}
	if !w.ignored() {
		w.compare(va, vb)
	}
}

// invalidValue shows a body that claims to be JSON but is not.
func invalidValue(b []byte) json.RawMessage {
	return stringValue("invalid JSON: " + cutUTF8(string(b), maxValueBytes))
}

type walker struct {
	c    *Comparator
	col  *collector
	path []seg
	// budget bounds the bytes canonicalized for the optional order
	// detection: nested arrays would otherwise make it quadratic.
	budget *int
}

func (w *walker) push(s seg) { w.path = append(w.path, s) }
func (w *walker) pop()       { w.path = w.path[:len(w.path)-1] }

func (w *walker) ignored() bool {
	for _, p := range w.c.ignore {
		if matchPath(p, w.path) {
			return true
		}
	}
	return false
}

func (w *walker) unordered() bool {
	for _, p := range w.c.unordered {
		if matchPath(p, w.path) {
			return true
		}
	}
	return false
}

func (w *walker) add(kind string, a, b any, hasA, hasB bool) {
	d := Diff{Path: renderPath(w.path), Kind: kind}
	if hasA {
		d.Legacy = encodeValue(a)
	}
	if hasB {
		d.New = encodeValue(b)
	}
	w.col.add(d)
}

type jsonType int

const (
	tNull jsonType = iota
	tBool
	tNumber
	tString
	tArray
	tObject
)

func typeOf(v any) jsonType {
	switch v.(type) {
	case bool:
		return tBool
	case json.Number:
		return tNumber
	case string:
		return tString
	case []any:
		return tArray
	case map[string]any:
		return tObject
	}
	return tNull
}

// compare walks a and b at the current path; the caller has already
// checked that the path is not ignored. Walking continues past the cap
// only until the first diff that does not fit, which sets the truncation
// marker and stops every enclosing loop.
func (w *walker) compare(a, b any) {
	ta, tb := typeOf(a), typeOf(b)
	if ta != tb {
		w.add(KindType, a, b, true, true)
		return
	}
	switch ta {
	case tBool:
		if a.(bool) != b.(bool) {
			w.add(KindValue, a, b, true, true)
		}
	case tNumber:
		if !numbersEqual(string(a.(json.Number)), string(b.(json.Number)), w.c.tol) {
			w.add(KindValue, a, b, true, true)
		}
	case tString:
		if a.(string) != b.(string) {
			w.add(KindValue, a, b, true, true)
		}
	case tObject:
		w.compareObjects(a.(map[string]any), b.(map[string]any))
	case tArray:
		if w.unordered() {
			w.compareUnordered(a.([]any), b.([]any))
		} else {
			w.compareOrdered(a.([]any), b.([]any))
		}
	}
}

func (w *walker) compareObjects(a, b map[string]any) {
	for _, k := range unionKeys(a, b) {
		va, inA := a[k]
		vb, inB := b[k]
		w.push(seg{key: k})
		switch {
		case w.ignored():
		case !inB:
			w.add(KindMissing, va, nil, true, false)
		case !inA:
			w.add(KindExtra, nil, vb, false, true)
		default:
			w.compare(va, vb)
		}
		w.pop()
		if w.col.truncated {
			return
		}
	}
}

func (w *walker) compareOrdered(a, b []any) {
	mark, wasTruncated := len(w.col.diffs), w.col.truncated
	if len(a) != len(b) {
		w.col.add(Diff{Path: renderPath(w.path), Kind: KindLength,
			Legacy: intValue(int64(len(a))), New: intValue(int64(len(b)))})
	}
	changed := 0 // elements with diffs: a reorder changes at least two
	for i := 0; i < max(len(a), len(b)); i++ {
		before := len(w.col.diffs)
		w.push(seg{idx: i, isIdx: true})
		switch {
		case w.ignored():
		case i >= len(b):
			w.add(KindMissing, a[i], nil, true, false)
		case i >= len(a):
			w.add(KindExtra, nil, b[i], false, true)
		default:
			w.compare(a[i], b[i])
		}
		w.pop()
		if len(w.col.diffs) > before || w.col.truncated {
			changed++
		}
		if w.col.truncated {
			break
		}
	}
	// Same elements in another order: one "order" diff says more than a
	// cascade of element-wise ones.
	if len(a) == len(b) && changed >= 2 && w.sameMultiset(a, b) {
		w.col.diffs = w.col.diffs[:mark]
		w.col.truncated = wasTruncated
		w.add(KindOrder, a, b, true, true)
	}
}

// compareUnordered compares arrays as multisets of canonical elements and
// reports unmatched elements by their own index on each side.
func (w *walker) compareUnordered(a, b []any) {
	byKey := map[string][]int{}
	for i, e := range a {
		w.push(seg{idx: i, isIdx: true})
		if !w.ignored() {
			k := w.canonical(e)
			byKey[k] = append(byKey[k], i)
		}
		w.pop()
	}
	var restB []int
	for j, e := range b {
		w.push(seg{idx: j, isIdx: true})
		if !w.ignored() {
			k := w.canonical(e)
			if idx := byKey[k]; len(idx) > 0 {
				byKey[k] = idx[1:]
			} else {
				restB = append(restB, j)
			}
		}
		w.pop()
	}
	var restA []int
	for _, idx := range byKey {
		restA = append(restA, idx...)
	}
	sort.Ints(restA)
	pairs := w.pairLeftovers(a, b, restA, restB)
	for _, i := range restA {
		if j, ok := pairs[i]; ok {
			w.push(seg{idx: i, isIdx: true})
			w.compare(a[i], b[j])
			w.pop()
			continue
		}
		w.push(seg{idx: i, isIdx: true})
		w.add(KindMissing, a[i], nil, true, false)
		w.pop()
	}
	for _, j := range restB {
		if slices.Contains(pairsValues(pairs), j) {
			continue
		}
		w.push(seg{idx: j, isIdx: true})
		w.add(KindExtra, nil, b[j], false, true)
		w.pop()
	}
}

// maxPairing bounds the quadratic leftover pairing.
const maxPairing = 8

// pairLeftovers matches elements left over by exact multiset matching:
// those equal within numeric tolerance, and, when both sides have the same
// small number of objects left, each legacy object with its closest new
// object so that a changed field is reported as that field, not as a
// whole missing and extra element.
func (w *walker) pairLeftovers(a, b []any, restA, restB []int) map[int]int {
	pairs := map[int]int{}
	if len(restA) == 0 || len(restB) == 0 || len(restA) > maxPairing || len(restB) > maxPairing {
		return pairs
	}
	allObjects := len(restA) == len(restB)
	for _, i := range restA {
		allObjects = allObjects && typeOf(a[i]) == tObject
	}
	for _, j := range restB {
		allObjects = allObjects && typeOf(b[j]) == tObject
	}
	used := map[int]bool{}
	for _, i := range restA {
		best, bestN := -1, 0
		for _, j := range restB {
			if used[j] {
				continue
			}
			n := w.countDiffs(i, a[i], b[j])
			if best < 0 || n < bestN {
				best, bestN = j, n
			}
		}
		if best >= 0 && (bestN == 0 || allObjects) {
			pairs[i] = best
			used[best] = true
		}
	}
	return pairs
}

func pairsValues(m map[int]int) []int {
	v := make([]int, 0, len(m))
	for _, j := range m {
		v = append(v, j)
	}
	return v
}

// countDiffs compares two elements into a scratch collector, bounded.
func (w *walker) countDiffs(i int, a, b any) int {
	sub := walker{c: w.c, col: &collector{max: 16}, path: append(slices.Clip(w.path), seg{idx: i, isIdx: true}), budget: w.budget}
	sub.compare(a, b)
	n := len(sub.col.diffs)
	if sub.col.truncated {
		n++
	}
	return n
}

func (w *walker) sameMultiset(a, b []any) bool {
	if *w.budget <= 0 {
		return false
	}
	keys := map[string]int{}
	for i, e := range a {
		w.push(seg{idx: i, isIdx: true})
		keys[w.canonical(e)]++
		w.pop()
	}
	for j, e := range b {
		if *w.budget <= 0 {
			return false
		}
		w.push(seg{idx: j, isIdx: true})
		k := w.canonical(e)
		w.pop()
		if keys[k] == 0 {
			return false
		}
		keys[k]--
	}
	return true
}

// canonical renders v at the current path as an order-independent key:
// object keys sorted, ignored subtrees dropped, numbers normalized, and
// nested unordered arrays sorted.
func (w *walker) canonical(v any) string {
	s := string(w.appendCanonical(nil, v))
	*w.budget -= len(s)
	return s
}

func (w *walker) appendCanonical(b []byte, v any) []byte {
	switch t := v.(type) {
	case nil:
		return append(b, 'n')
	case bool:
		if t {
			return append(b, 't')
		}
		return append(b, 'f')
	case json.Number:
		return append(append(b, '#'), canonicalNumber(string(t))...)
	case string:
		return strconv.AppendQuote(b, t)
	case []any:
		if !w.unordered() {
			// Appending in place keeps canonicalization linear in depth.
			b = append(b, '[')
			for i, e := range t {
				w.push(seg{idx: i, isIdx: true})
				if w.ignored() {
					b = append(b, '_')
				} else {
					b = w.appendCanonical(b, e)
				}
				b = append(b, ',')
				w.pop()
			}
			return append(b, ']')
		}
		parts := make([]string, 0, len(t))
		for i, e := range t {
			w.push(seg{idx: i, isIdx: true})
			if w.ignored() {
				parts = append(parts, "_")
			} else {
				parts = append(parts, string(w.appendCanonical(nil, e)))
			}
			w.pop()
		}
		sort.Strings(parts)
		b = append(b, '[')
		for _, p := range parts {
			b = append(b, p...)
			b = append(b, ',')
		}
		return append(b, ']')
	case map[string]any:
		b = append(b, '{')
		for _, k := range sortedKeys(t) {
			w.push(seg{key: k})
			if !w.ignored() {
				b = strconv.AppendQuote(b, k)
				b = append(b, ':')
				b = w.appendCanonical(b, t[k])
				b = append(b, ',')
			}
			w.pop()
		}
		return append(b, '}')
	}
	return append(b, '?')
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func unionKeys(a, b map[string]any) []string {
	keys := make([]string, 0, max(len(a), len(b)))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}
