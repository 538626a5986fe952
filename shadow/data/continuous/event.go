package continuous

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// Side says where one table's changes are and how to read them.
type Side struct {
	// Stream is the capture stream (FICUS_CDC_<SOURCE>).
	Stream string
	// Subject is the table's subject, <prefix>.<source>.<schema>.<table>.
	Subject string
	// Key is the key column when it is a single one; KeyColumns, when
	// set, are the key columns instead (paired by position with the other
	// side's; see Config.KeyKinds).
	Key        string
	KeyColumns []string
	// Columns are the compared columns, paired by position with the
	// other side's.
	Columns []string
	// Rules adjust values (legacy side only; nil or one per column).
	Rules []canon.Rule
	// Query, when set, makes the side a query (see QuerySide): Subject is
	// then unused, the consumer follows Query's tables.
	Query *QuerySide
}

// change is one decoded capture event, reduced to what the comparison needs.
type change struct {
	key     Key
	deleted bool
	values  []canon.Value
	atMs    int64 // commit time
	// movedFrom is the key before an update that changed the key column:
	// that key is gone from this side.
	movedFrom *Key
	// truncate: the whole table was emptied on this side (no key). Each
	// key the side holds is then deleted with truncated set, which leaves
	// keys the side never had alone.
	truncate, truncated bool
	// seq is the event's capture stream sequence (0: unknown).
	seq uint64
}

// envelope is the part of ficus's capture envelope read here; row values
// stay raw so JSON columns can be canonicalised from their text.
type envelope struct {
	Op     string                     `json:"op"`
	Before map[string]json.RawMessage `json:"before"`
	After  map[string]json.RawMessage `json:"after"`
	Key    map[string]json.RawMessage `json:"key"`
	Source struct {
		TsMs int64 `json:"ts_ms"`
	} `json:"source"`
}

// errSkip marks events that carry nothing to compare (unknown ops).
var errSkip = errors.New("no row")

// keyNames are the key columns: KeyColumns, or Key alone.
func (s *Side) keyNames() []string {
	if len(s.KeyColumns) > 0 {
		return s.KeyColumns
	}
	return []string{s.Key}
}

// decode turns an event into a change of side s, with values canonical
// for kinds, s's rules applied, and its key read as keyKinds say (nil: one
// integer column).
func decode(b []byte, s *Side, kinds, keyKinds []canon.Kind) (change, error) {
	var e envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return change{}, fmt.Errorf("decode event: %w", err)
	}
	row := e.After
	c := change{atMs: e.Source.TsMs}
	switch e.Op {
	case "c", "u", "r":
	case "d":
		row, c.deleted = e.Before, true
	case "t":
		c.truncate = true
		return c, nil
	default:
		return change{}, errSkip
	}
	key, err := readKey(s, keyKinds, e.Key, row)
	if err != nil {
		return change{}, err
	}
	c.key = key
	if c.deleted {
		return c, nil
	}
	if e.Op == "u" && e.Before != nil {
		if old, err := readKey(s, keyKinds, nil, e.Before); err == nil && old != key {
			c.movedFrom = &old
		}
	}
	c.values = make([]canon.Value, len(s.Columns))
	for i, col := range s.Columns {
		raw, ok := row[col]
		if !ok {
			return change{}, fmt.Errorf("event of key %s has no column %q", key, col)
		}
		v, err := canonical(kinds[i], raw)
		if err != nil {
			return change{}, fmt.Errorf("key %s column %s: %w", key, col, err)
		}
		if s.Rules != nil {
			if v, err = canon.Apply(s.Rules[i], v); err != nil {
				return change{}, fmt.Errorf("key %s column %s: %w", key, col, err)
			}
		}
		c.values[i] = v
	}
	return c, nil
}

// readKey reads the key of an event from its key object, else its row.
func readKey(s *Side, keyKinds []canon.Kind, keyObj, row map[string]json.RawMessage) (Key, error) {
	names := s.keyNames()
	raws := make([]json.RawMessage, len(names))
	for i, n := range names {
		raw, ok := keyObj[n]
		if !ok {
			raw, ok = row[n]
		}
		if !ok {
			return "", fmt.Errorf("event has no key column %q", n)
		}
		raws[i] = raw
	}
	if keyKinds == nil {
		if len(raws) != 1 {
			return "", fmt.Errorf("%d key columns need their kinds", len(raws))
		}
		k, err := parseKey(raws[0])
		if err != nil {
			return "", err
		}
		return IntKey(k), nil
	}
	if len(keyKinds) != len(raws) {
		return "", fmt.Errorf("%d key kinds for %d key columns", len(keyKinds), len(raws))
	}
	t := make(canon.Key, len(raws))
	for i, raw := range raws {
		v, err := canonical(keyKinds[i], raw)
		if err != nil {
			return "", fmt.Errorf("key column %s: %w", names[i], err)
		}
		if v.Null {
			return "", fmt.Errorf("key column %s is NULL", names[i])
		}
		t[i] = v.Text
	}
	return Key(t.JSON()), nil
}

func parseKey(raw json.RawMessage) (int64, error) {
	s := string(bytes.Trim(raw, `"`)) // bigints beyond 2^53 arrive as strings
	k, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("key %s is not an integer", raw)
	}
	return k, nil
}

// canonical reads one JSON-encoded column value of the capture envelope.
func canonical(k canon.Kind, raw json.RawMessage) (canon.Value, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return canon.Value{Null: true}, nil
	}
	if k == canon.KindJSON {
		// A JSON column arrives embedded; MariaDB's LONGTEXT JSON may arrive
		// as a string holding the document.
		if raw[0] == '"' {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return canon.Value{}, err
			}
			raw = json.RawMessage(s)
		}
		c, err := canon.CanonicalJSON(raw)
		return canon.Value{Text: c}, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return canon.Value{}, err
	}
	switch v.(type) {
	case map[string]any, []any:
		return canon.Value{Text: string(raw)}, nil // arrays, sets: compared as JSON text
	}
	return canon.Canonical(k, v)
}
