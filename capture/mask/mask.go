// Package mask removes and masks columns of captured rows before they are
// published (capture.sources[].tables[].columns): both readers' changes pass
// through one Masker in the sink, so PostgreSQL and MySQL/MariaDB streams
// mask equal values equally.
package mask

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ficus-migrate/ficus/capture"
)

// Kind is how a masked column's value is replaced.
type Kind int

// The mask kinds.
const (
	// Hash replaces the value with the lower-case hex HMAC-SHA256 of its
	// canonical text (see Text) keyed with the mask secret: equal values
	// give equal hashes, so masked columns still join.
	Hash Kind = iota + 1
	// KeepLast keeps the last N characters (Unicode code points) of the
	// canonical text and replaces each one before them with '*'.
	KeepLast
	// Null replaces the value with null.
	Null
)

// Spec is one parsed mask: "hash", "keep_last:N" or "null".
type Spec struct {
	Kind Kind
	N    int // KeepLast only
}

// MaxKeepLast bounds N of keep_last:N.
const MaxKeepLast = 1 << 16

// Parse reads a mask as written in the config.
func Parse(s string) (Spec, error) {
	switch {
	case s == "hash":
		return Spec{Kind: Hash}, nil
	case s == "null":
		return Spec{Kind: Null}, nil
	case strings.HasPrefix(s, "keep_last:"):
		n, err := strconv.Atoi(strings.TrimPrefix(s, "keep_last:"))
		if err != nil || n < 0 || n > MaxKeepLast {
			return Spec{}, fmt.Errorf(`expected keep_last:N with N from 0 to %d, got %q`, MaxKeepLast, s)
		}
		return Spec{Kind: KeepLast, N: n}, nil
	}
	return Spec{}, fmt.Errorf(`expected hash, "keep_last:N" or null, got %q`, s)
}

// String is the config spelling of s.
func (s Spec) String() string {
	switch s.Kind {
	case Hash:
		return "hash"
	case KeepLast:
		return "keep_last:" + strconv.Itoa(s.N)
	case Null:
		return "null"
	}
	return "unknown"
}

// Table says which columns of one table are left out and which are masked.
type Table struct {
	Exclude []string
	Mask    map[string]Spec
}

// Config configures a Masker.
type Config struct {
	// Tables holds the rules by "schema.table" (as in capture.Change's
	// Source.Schema and Source.Table); other tables pass unchanged.
	Tables map[string]Table
	// Secret keys Hash; required when any table uses Hash.
	Secret []byte
}

// Masker applies the rules of Config to changes. A nil Masker changes
// nothing. It is safe for concurrent use (it holds no mutable state).
type Masker struct {
	tables map[string]*rules
	secret []byte
}

type rules struct {
	exclude map[string]bool
	mask    map[string]Spec
}

// New checks cfg and returns its Masker, or nil when no table has a rule.
func New(cfg Config) (*Masker, error) {
	m := &Masker{tables: map[string]*rules{}, secret: cfg.Secret}
	for name, t := range cfg.Tables {
		if len(t.Exclude) == 0 && len(t.Mask) == 0 {
			continue
		}
		r := &rules{exclude: map[string]bool{}, mask: map[string]Spec{}}
		for _, c := range t.Exclude {
			r.exclude[c] = true
		}
		for c, s := range t.Mask {
			if r.exclude[c] {
				return nil, fmt.Errorf("table %s: column %s is both excluded and masked", name, c)
			}
			if s.Kind == Hash && len(cfg.Secret) == 0 {
				return nil, fmt.Errorf("table %s: column %s: hash needs a mask secret", name, c)
			}
			r.mask[c] = s
		}
		m.tables[name] = r
	}
	if len(m.tables) == 0 {
		return nil, nil
	}
	return m, nil
}

// Apply removes the excluded columns of c's table from Before, After and
// Key and masks its masked columns there; a snapshot row's ID is derived
// again from the masked row (see capture.SnapshotID). The rows are
// replaced, not edited, so a reader that keeps its rows is not affected.
func (m *Masker) Apply(c *capture.Change) error {
	if m == nil {
		return nil
	}
	r := m.tables[c.Source.Schema+"."+c.Source.Table]
	if r == nil {
		return nil
	}
	c.Before = m.row(r, c.Before)
	c.After = m.row(r, c.After)
	touchedKey := false
	for _, f := range c.Key {
		if r.exclude[f.Name] || r.mask[f.Name].Kind != 0 {
			touchedKey = true
			break
		}
	}
	c.Key = m.row(r, c.Key)
	if c.Op == capture.OpRead && c.Source.Snapshot {
		id, err := capture.MaskedSnapshotID(c.ID, c.Key, c.After, touchedKey)
		if err != nil {
			return fmt.Errorf("mask %s.%s: %w", c.Source.Schema, c.Source.Table, err)
		}
		c.ID = id
	}
	return nil
}

// Excluded reports whether column of table ("schema.table") is left out.
// Schema events use it so an excluded column's name never leaves the source.
func (m *Masker) Excluded(table, column string) bool {
	if m == nil {
		return false
	}
	r := m.tables[table]
	return r != nil && r.exclude[column]
}

func (m *Masker) row(r *rules, in capture.Row) capture.Row {
	if in == nil {
		return nil
	}
	out := make(capture.Row, 0, len(in))
	for _, f := range in {
		if r.exclude[f.Name] {
			continue
		}
		if s, ok := r.mask[f.Name]; ok {
			f.Value = s.Value(f.Value, m.secret)
		}
		out = append(out, f)
	}
	return out
}

// Value masks v (a capture.Field value) with s; null stays null for every
// kind, so a masked column keeps telling null from a value.
func (s Spec) Value(v any, secret []byte) any {
	if v == nil {
		return nil
	}
	switch s.Kind {
	case Hash:
		h := hmac.New(sha256.New, secret)
		h.Write([]byte(Text(v)))
		return hex.EncodeToString(h.Sum(nil))
	case KeepLast:
		return keepLast(Text(v), s.N)
	}
	return nil
}

func keepLast(t string, n int) string {
	runes := utf8.RuneCountInString(t)
	if runes <= n {
		return t
	}
	var b strings.Builder
	b.Grow(len(t))
	i := 0
	for _, r := range t {
		if i < runes-n {
			b.WriteByte('*')
		} else {
			b.WriteRune(r)
		}
		i++
	}
	return b.String()
}

// Text is the canonical text of a value: a string itself, a number its
// decimal text, a boolean true or false, JSON (json.RawMessage, arrays) in
// its compact encoding. Both readers give equal values equal texts.
func Text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	case json.RawMessage:
		return compact(x)
	case []byte:
		return string(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func compact(b []byte) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return string(b)
	}
	return buf.String()
}
