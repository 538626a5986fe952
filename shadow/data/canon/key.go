package canon

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// Key is one row's key: the canonical text of each key column, in key
// order. Keys of any kind (integer, decimal, text, UUID, binary, date,
// timestamp) and any number of columns compare in the same order in Go
// (CompareKeys), in PostgreSQL and in MariaDB/MySQL (KeySQL): the order of
// the canonical texts' bytes, numbers by value. Never an engine's
// collation: 'a' and 'A' are different keys, and ranges split the same way
// on both engines.
type Key []string

// JSON is the key's unambiguous text: a JSON array of the canonical texts,
// such as ["1042","7"]. Continuous mode keys its state by it; FICUS_DATA
// findings and reconcile's outputs show it.
func (k Key) JSON() string {
	b, _ := json.Marshal([]string(k)) // strings only: cannot fail
	return string(b)
}

// String is JSON: one text for people and programs alike, unambiguous
// whatever the texts hold.
func (k Key) String() string { return k.JSON() }

// ParseKeyJSON reads Key.JSON's text.
func ParseKeyJSON(s string) (Key, error) {
	var k []string
	if err := json.Unmarshal([]byte(s), &k); err != nil || len(k) == 0 {
		return nil, fmt.Errorf("not a key: %q", s)
	}
	return Key(k), nil
}

// KeyKind says whether columns of kind k can be key columns: every kind
// but bool and JSON, which have no order both engines share.
func KeyKind(k Kind) error {
	switch k {
	case KindBool, KindJSON:
		return fmt.Errorf("a %s column cannot be a key column", k)
	}
	return nil
}

// CompareKeys orders two keys of the given kinds: column by column, numbers
// (integer, decimal) by value, everything else by the bytes of the
// canonical text (UTF-8 for text; lowercase hex for UUID and binary, which
// is the order of their bytes; fixed-width texts for dates and timestamps,
// which is their order in time). A shorter key sorts first.
func CompareKeys(kinds []Kind, a, b Key) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		k := KindText
		if i < len(kinds) {
			k = kinds[i]
		}
		if c := compareValue(k, a[i], b[i]); c != 0 {
			return c
		}
	}
	return len(a) - len(b)
}

func compareValue(k Kind, a, b string) int {
	if a == b {
		return 0
	}
	if k == KindInteger || k == KindDecimal {
		da, ea := ParseDecimal(a)
		db, eb := ParseDecimal(b)
		if ea == nil && eb == nil {
			return da.Cmp(db)
		}
	}
	return strings.Compare(a, b)
}

// Cmp compares d and e by value.
func (d Decimal) Cmp(e Decimal) int {
	// Bring both to the larger scale.
	x, y := new(big.Int).Set(&d.Unscaled), new(big.Int).Set(&e.Unscaled)
	ten := big.NewInt(10)
	if d.Scale < e.Scale {
		x.Mul(x, new(big.Int).Exp(ten, big.NewInt(int64(e.Scale-d.Scale)), nil))
	} else if e.Scale < d.Scale {
		y.Mul(y, new(big.Int).Exp(ten, big.NewInt(int64(d.Scale-e.Scale)), nil))
	}
	return x.Cmp(y)
}

// uuidText is the canonical UUID text of 16 bytes: lowercase, hyphenated.
func uuidText(b []byte) string {
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

var errNotUUID = errors.New("not a UUID")

// canonicalUUID reads a UUID as text (any case, with or without hyphens),
// as 16 raw bytes, or as the base64 of 16 bytes (how capture events carry
// a BINARY(16) column).
func canonicalUUID(v any) (string, error) {
	switch x := v.(type) {
	case []byte:
		if len(x) == 16 {
			return uuidText(x), nil
		}
		return canonicalUUID(string(x))
	case [16]byte:
		return uuidText(x[:]), nil
	}
	s, err := text(v)
	if err != nil {
		return "", err
	}
	switch len(s) {
	case 36, 32:
		b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
		if err != nil || len(b) != 16 || (len(s) == 36 && uuidText(b) != strings.ToLower(s)) {
			return "", fmt.Errorf("%w: %q", errNotUUID, s)
		}
		return uuidText(b), nil
	case 24:
		if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == 16 {
			return uuidText(b), nil
		}
	}
	return "", fmt.Errorf("%w: %q", errNotUUID, s)
}

// canonicalBinary reads binary data as raw bytes, or as the base64 text
// capture events carry, into lowercase hex.
func canonicalBinary(v any) (string, error) {
	if b, ok := v.([]byte); ok {
		return hex.EncodeToString(b), nil
	}
	s, err := text(v)
	if err != nil {
		return "", err
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("binary value is not base64: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// Binary reports whether a column type holds bytes rather than text.
func Binary(dataType string) bool {
	switch strings.ToLower(strings.TrimSpace(dataType)) {
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "bytea":
		return true
	}
	return false
}
