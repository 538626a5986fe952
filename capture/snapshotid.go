package capture

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/ficus-migrate/ficus/capture/subject"
)

// SnapshotID is the Nats-Msg-Id of a snapshot row: source, table, key and a digest
// of the row. A redone snapshot re-publishes identical ids for unchanged rows
// (JetStream drops them as duplicates) while a row that changed between two
// snapshot attempts gets a new id and is not lost to de-duplication. Tables
// without a key (hasKey false) use the row's ordinal in the scan instead.
func SnapshotID(source, table string, key, row Row, hasKey bool, ordinal int64) (string, error) {
	var ident []byte
	if hasKey {
		ident, _ = json.Marshal(key)
	} else {
		ident = []byte(strconv.FormatInt(ordinal, 10))
	}
	body, err := json.Marshal(row)
	if err != nil {
		return "", fmt.Errorf("encode row: %w", err)
	}
	if strings.ContainsFunc(table, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		// A header value cannot hold a line break (PostgreSQL allows one
		// in a quoted name): such a name goes in its subject-token form.
		schema, name, _ := strings.Cut(table, ".")
		table = subject.Token(schema) + "." + subject.Token(name)
	}
	return source + ":snap:" + table + ":" + digest(ident) + ":" + digest(body), nil
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// MaskedSnapshotID derives a snapshot id made by SnapshotID again from the
// masked key and row (capture/mask), so that the id carries no digest of a
// value that was masked or left out. keyed says the key digest must be
// replaced too (a key column was masked); a keyless table's ordinal stays.
func MaskedSnapshotID(id string, key, row Row, keyed bool) (string, error) {
	// The id ends in ":" + 16 hex digits (key or ordinal) + ":" + 16 hex
	// digits (row); a table name may hold ':' so the end is cut, not split.
	const tail = 1 + 16 + 1 + 16
	if !strings.Contains(id, ":snap:") {
		return id, nil // a position-derived id carries no value
	}
	if len(id) < tail || id[len(id)-tail] != ':' || id[len(id)-17] != ':' {
		return "", fmt.Errorf("not a snapshot id: %q", id)
	}
	body, err := json.Marshal(row)
	if err != nil {
		return "", fmt.Errorf("encode row: %w", err)
	}
	head := id[:len(id)-17]
	if keyed {
		ident, _ := json.Marshal(key)
		head = id[:len(id)-tail+1] + digest(ident)
	}
	return head + ":" + digest(body), nil
}
