package capture

import (
	"strings"
	"testing"
)

// A snapshot id carries the table's real name, except for a name holding a
// control character, which a header value (Nats-Msg-Id) cannot.
func TestSnapshotIDTableName(t *testing.T) {
	key := Row{{Name: "id", Value: 1}}
	for table, want := range map[string]string{
		"public.orders":      "src:snap:public.orders:",
		"public.Weird Table": "src:snap:public.Weird Table:",
		"public.Größe":       "src:snap:public.Größe:",
		"public.two\nlines":  "src:snap:public.two%0Alines:",
	} {
		id, err := SnapshotID("src", table, key, key, true, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(id, want) || strings.ContainsAny(id, "\r\n") {
			t.Errorf("SnapshotID(%q) = %q, want the prefix %q", table, id, want)
		}
	}
}
