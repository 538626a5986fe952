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
