package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Error is one problem found in a config file.
type Error struct {
	// File is the file name as given to Load or LoadBytes.
	File string
	// Line and Column are 1-based; Column is 0 when only the line is known
	// (a few YAML syntax errors, such as one at the end of the input) and
	// both are 0 when neither is (unreadable file, invalid encoding).
	Line, Column int
	// Path is the dotted key path of the offending value, with [i] for list
	// items, e.g. "proxy.routes[2].weight"; empty for syntax errors.
	Path string
	// Msg says what was expected and what was found.
	Msg string

	cause error
}

// Error formats the problem as "file:line:column: path: message", leaving
// out the parts that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteString(":" + strconv.Itoa(e.Column))
		}
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying error, if any (e.g. fs.ErrNotExist).
func (e *Error) Unwrap() error { return e.cause }

// Errors is every problem found in a config file, sorted by position. Load
// and LoadBytes return a non-empty Errors value as their error.
type Errors []*Error

// Error returns one line per problem.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes each *Error to errors.Is and errors.As.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

func (es Errors) sort() {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].Line != es[j].Line {
			return es[i].Line < es[j].Line
		}
		return es[i].Column < es[j].Column
	})
}

// suggest returns the known key closest to key when it is within edit
// distance 2, so typos get a "did you mean" hint.
func suggest(key string, known []string) (string, bool) {
	// Edit distance is quadratic; a key this long is not a typo.
	if len(key) > 64 {
		return "", false
	}
	best, bestDist := "", 3
	for _, k := range known {
		d := editDistance(strings.ToLower(key), k)
		if d < bestDist {
			best, bestDist = k, d
		}
	}
	return best, best != ""
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// unknownKeyMsg is the message for a key that is not part of the schema.
func unknownKeyMsg(key string, known []string) string {
	if s, ok := suggest(key, known); ok {
		return fmt.Sprintf("unknown key (did you mean %q?)", s)
	}
	return "unknown key (expected one of: " + strings.Join(known, ", ") + ")"
}
