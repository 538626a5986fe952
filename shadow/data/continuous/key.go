package continuous

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// Key is a key as the state bucket and FICUS_DATA know it: its JSON text.
// For a key of one integer column on both sides it is the integer, as it
// always was ("key": 42); for any other key (several columns; decimal,
// text, UUID, binary, date, timestamp) the JSON array of the key columns'
// canonical texts ("key": ["1042","7"], canon.Key.JSON), which is
// unambiguous whatever the texts hold: the state is keyed by it.
type Key string

// IntKey is the Key of an integer key.
func IntKey(n int64) Key { return Key(strconv.FormatInt(n, 10)) }

// MarshalJSON implements json.Marshaler: the key's JSON text.
func (k Key) MarshalJSON() ([]byte, error) {
	if k == "" {
		return []byte("null"), nil
	}
	if !json.Valid([]byte(k)) {
		return nil, fmt.Errorf("key %q is not JSON", string(k))
	}
	return []byte(k), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (k *Key) UnmarshalJSON(b []byte) error {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return err
	}
	if buf.String() == "null" {
		*k = ""
		return nil
	}
	*k = Key(buf.String())
	return nil
}

// String is the key's JSON text: 42 or ["1042","7"].
func (k Key) String() string { return string(k) }

// Tuple reads an array key into its canonical texts (nil for an integer
// key).
func (k Key) Tuple() canon.Key {
	if !strings.HasPrefix(string(k), "[") {
		return nil
	}
	t, err := canon.ParseKeyJSON(string(k))
	if err != nil {
		return nil
	}
	return t
}

// CompareKeys orders keys for reports: integers by value, arrays by their
// texts (numbers among them by value), integers before arrays.
func CompareKeys(a, b Key) int {
	ai, aerr := strconv.ParseInt(string(a), 10, 64)
	bi, berr := strconv.ParseInt(string(b), 10, 64)
	switch {
	case aerr == nil && berr == nil:
		return cmp.Compare(ai, bi)
	case aerr == nil:
		return -1
	case berr == nil:
		return 1
	}
	at, bt := a.Tuple(), b.Tuple()
	kinds := make([]canon.Kind, max(len(at), len(bt)))
	for i := range kinds {
		kinds[i] = canon.KindDecimal // a text that is not a number compares as text
	}
	return canon.CompareKeys(kinds, at, bt)
}

// tuplePrefix starts the bucket key of an array key: bucket keys allow
// letters, digits and -/_=. only, so the JSON goes in base64url.
const tuplePrefix = "t."

// bucketKey is the state bucket's key of k: an integer key as itself (as
// it always was), any other key tuplePrefix + base64url of its JSON.
func (k Key) bucketKey() string {
	if strings.HasPrefix(string(k), "[") {
		return tuplePrefix + base64.RawURLEncoding.EncodeToString([]byte(k))
	}
	return string(k)
}

// keyOfBucket reads a bucket key back.
func keyOfBucket(name string) (Key, bool) {
	if rest, ok := strings.CutPrefix(name, tuplePrefix); ok {
		b, err := base64.RawURLEncoding.DecodeString(rest)
		if err != nil {
			return "", false
		}
		if _, err := canon.ParseKeyJSON(string(b)); err != nil {
			return "", false
		}
		return Key(b), true
	}
	n, err := strconv.ParseInt(name, 10, 64)
	if err != nil {
		return "", false
	}
	return IntKey(n), true
}

// worker is the index of the worker that owns k among n.
func (k Key) worker(n int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(k)) // a hash.Hash never fails
	return int(h.Sum32() % uint32(n))
}

// KeyOfTexts is the Key of a key's canonical texts: the integer when
// intKey (a key of one integer column on both sides), else the JSON array.
func KeyOfTexts(t canon.Key, intKey bool) (Key, error) {
	if !intKey {
		return Key(t.JSON()), nil
	}
	if len(t) != 1 {
		return "", fmt.Errorf("%d texts for an integer key", len(t))
	}
	n, err := strconv.ParseInt(t[0], 10, 64)
	if err != nil {
		return "", fmt.Errorf("key %q is not an integer", t[0])
	}
	return IntKey(n), nil
}

// Texts are the key's canonical texts: the array's, or the integer's.
func (k Key) Texts() canon.Key {
	if t := k.Tuple(); t != nil {
		return t
	}
	return canon.Key{string(k)}
}
