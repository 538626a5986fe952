// Package diff compares a legacy and a new HTTP answer: status, selected
// headers, and the body by content type (JSON structurally, text line-wise,
// anything else by size and hash). Bodies are untrusted: Compare never
// panics and bounds both the number of diffs and the size of each value.
package diff

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
)

// Rules configures a Comparator. JSON paths use the syntax "$", ".key",
// `["odd key"]`, "[n]", and the wildcards "[*]" and ".*" (any key or index).
type Rules struct {
	// Ignore lists JSON paths and "header:Name" entries whose differences
	// are never reported. Ignoring a JSON node ignores its whole subtree.
	Ignore []string
	// Headers lists the response headers compared (case-insensitive).
	Headers []string
	// Unordered lists JSON array paths compared as multisets.
	Unordered []string
	// NumericTolerance is absolute-or-relative: two numbers are equal when
	// |a-b| <= tol or |a-b| <= tol*max(|a|,|b|). Zero means exact.
	NumericTolerance float64
	// MaxDiffs caps the diffs reported (default 100); when exceeded a final
	// Diff{Path: "$" (or "body" for text), Kind: "truncated"} is added.
	MaxDiffs int
}

// Answer is one side of a comparison.
type Answer struct {
	Status int
	Header http.Header
	// ContentType selects the body comparison; when empty the
	// Content-Type header is used.
	ContentType string
	Body        []byte
	// Truncated means Body holds only a prefix; Size and Hash describe the
	// full body and are then the only things compared.
	Truncated bool
	// Size is the full body length (len(Body) is used when zero and not
	// truncated).
	Size int64
	// Hash is the sha256 of the full body, computed while streaming.
	Hash [32]byte
}

// Diff is one difference.
type Diff struct {
	// Path is "status", "header:Content-Type", "$.items[3].price", "body",
	// "body:line:12", or "$"/"body" with Kind "truncated".
	Path string `json:"path"`
	// Kind is one of the Kind* constants.
	Kind string `json:"kind"`
	// Legacy and New hold the values as valid JSON, capped in size; absent
	// on the side where the value is missing.
	Legacy json.RawMessage `json:"legacy,omitempty"`
	New    json.RawMessage `json:"new,omitempty"`
}

// Diff kinds.
const (
	KindValue     = "value"
	KindType      = "type"
	KindMissing   = "missing" // present in legacy, absent in new
	KindExtra     = "extra"   // absent in legacy, present in new
	KindLength    = "length"
	KindOrder     = "order"
	KindHash      = "hash"
	KindTruncated = "truncated" // more diffs existed than were reported
)

// DefaultMaxDiffs is the diff cap used when Rules.MaxDiffs is zero.
const DefaultMaxDiffs = 100

// Result is the outcome of Compare.
type Result struct {
	Diffs []Diff `json:"diffs"` // sorted by Path, then Kind; empty = match
}

// Match reports whether no difference was found.
func (r Result) Match() bool { return len(r.Diffs) == 0 }

// Signature is a stable grouping key: the sorted, de-duplicated generalized
// paths of all diffs joined by ",". Empty for a match.
func (r Result) Signature() string {
	if len(r.Diffs) == 0 {
		return ""
	}
	paths := make([]string, 0, len(r.Diffs))
	for _, d := range r.Diffs {
		paths = append(paths, Generalize(d.Path))
	}
	sort.Strings(paths)
	return strings.Join(slices.Compact(paths), ",")
}

// Comparator is a compiled, immutable Rules; safe for concurrent use.
type Comparator struct {
	ignore        [][]seg
	ignoreHeaders map[string]bool
	headers       []string // canonical names, de-duplicated
	unordered     [][]seg
	tol           float64
	maxDiffs      int
}

// Compile validates r and prepares a Comparator.
func Compile(r Rules) (*Comparator, error) {
	if math.IsNaN(r.NumericTolerance) || math.IsInf(r.NumericTolerance, 0) || r.NumericTolerance < 0 {
		return nil, fmt.Errorf("numeric_tolerance %v: must be a finite number >= 0", r.NumericTolerance)
	}
	if r.MaxDiffs < 0 {
		return nil, fmt.Errorf("max diffs %d: must be >= 0", r.MaxDiffs)
	}
	c := &Comparator{ignoreHeaders: map[string]bool{}, tol: r.NumericTolerance, maxDiffs: r.MaxDiffs}
	if c.maxDiffs == 0 {
		c.maxDiffs = DefaultMaxDiffs
	}
	for _, p := range r.Ignore {
		if name, ok := strings.CutPrefix(p, "header:"); ok {
			if !validHeaderName(name) {
				return nil, fmt.Errorf("ignore %q: invalid header name", p)
			}
			c.ignoreHeaders[http.CanonicalHeaderKey(name)] = true
			continue
		}
		segs, err := parsePattern(p)
		if err != nil {
			return nil, fmt.Errorf("ignore: %w", err)
		}
		c.ignore = append(c.ignore, segs)
	}
	seen := map[string]bool{}
	for _, h := range r.Headers {
		if !validHeaderName(h) {
			return nil, fmt.Errorf("headers: %q is not a valid header name", h)
		}
		h = http.CanonicalHeaderKey(h)
		if !seen[h] {
			seen[h] = true
			c.headers = append(c.headers, h)
		}
	}
	for _, p := range r.Unordered {
		segs, err := parsePattern(p)
		if err != nil {
			return nil, fmt.Errorf("unordered: %w", err)
		}
		c.unordered = append(c.unordered, segs)
	}
	return c, nil
}

// Compare compares two answers. It never panics on any input.
func (c *Comparator) Compare(legacy, new Answer) Result {
	col := &collector{max: c.maxDiffs}
	if legacy.Status != new.Status {
		col.add(Diff{Path: "status", Kind: KindValue,
			Legacy: intValue(int64(legacy.Status)), New: intValue(int64(new.Status))})
	}
	c.compareHeaders(col, legacy.Header, new.Header)
	c.compareBody(col, legacy, new)
	return col.result()
}

func (c *Comparator) compareHeaders(col *collector, a, b http.Header) {
	for _, h := range c.headers {
		if c.ignoreHeaders[h] {
			continue
		}
		va, vb := a.Values(h), b.Values(h)
		if slices.Equal(va, vb) {
			continue
		}
		d := Diff{Path: "header:" + h, Kind: KindValue}
		switch {
		case len(vb) == 0:
			d.Kind = KindMissing
		case len(va) == 0:
			d.Kind = KindExtra
		}
		if len(va) > 0 {
			d.Legacy = stringValue(strings.Join(va, ", "))
		}
		if len(vb) > 0 {
			d.New = stringValue(strings.Join(vb, ", "))
		}
		col.add(d)
	}
}

// collector bounds the diffs gathered; callers stop walking once full.
type collector struct {
	diffs     []Diff
	max       int
	truncated bool
	truncPath string
}

func (c *collector) full() bool { return len(c.diffs) >= c.max }

func (c *collector) add(d Diff) {
	if c.full() {
		c.truncated = true
		if c.truncPath == "" {
			c.truncPath = "$"
			if strings.HasPrefix(d.Path, "body") {
				c.truncPath = "body"
			}
		}
		return
	}
	c.diffs = append(c.diffs, d)
}

func (c *collector) result() Result {
	if c.truncated {
		c.diffs = append(c.diffs, Diff{Path: c.truncPath, Kind: KindTruncated})
	}
	sort.SliceStable(c.diffs, func(i, j int) bool {
		if c.diffs[i].Path != c.diffs[j].Path {
			return c.diffs[i].Path < c.diffs[j].Path
		}
		return c.diffs[i].Kind < c.diffs[j].Kind
	})
	return Result{Diffs: c.diffs}
}

// validHeaderName reports whether h is a non-empty RFC 9110 token.
func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		ok := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}
