package capture

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestEnvelope(t *testing.T) {
	c := Change{
		Op:     OpUpdate,
		Before: Row{{Name: "id", Value: json.Number("1")}, {Name: "b", Value: "x"}},
		After:  Row{{Name: "id", Value: json.Number("1")}, {Name: "b", Value: json.RawMessage(`{"k": [1, 2]}`)}},
		Key:    Row{{Name: "id", Value: json.Number("1")}},
		Source: SourceMeta{Connector: "postgresql", Name: "legacy", DB: "shop", Schema: "public", Table: "orders",
			LSN: "0/16B3748", TxID: 1234, CommitLSN: "0/16B3800", TsMs: 1700000000000, UnchangedToast: []string{"doc"}},
		Time: time.UnixMilli(1700000000123),
	}
	got, err := c.Envelope()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"op":"u","before":{"id":1,"b":"x"},"after":{"id":1,"b":{"k":[1,2]}},"key":{"id":1},` +
		`"source":{"connector":"postgresql","name":"legacy","db":"shop","schema":"public","table":"orders",` +
		`"lsn":"0/16B3748","tx_id":1234,"commit_lsn":"0/16B3800","snapshot":false,"ts_ms":1700000000000,` +
		`"unchanged_toast":["doc"]},"ts_ms":1700000000123}`
	if string(got) != want {
		t.Errorf("envelope:\n got %s\nwant %s", got, want)
	}
	c = Change{Op: OpTruncate, Source: SourceMeta{Name: "x", Snapshot: true}}
	got, _ = c.Envelope()
	if want := `{"op":"t","before":null,"after":null,"key":null,"source":{"connector":"","name":"x","db":"","schema":"","table":"","snapshot":true,"ts_ms":0},"ts_ms":`; string(got[:len(want)]) != want {
		t.Errorf("truncate envelope: %s", got)
	}
	bad := Change{After: Row{{Name: "f", Value: func() {}}}}
	if _, err := bad.Envelope(); err == nil {
		t.Error("unencodable value: no error")
	}
}

func TestOpNamesAndErrors(t *testing.T) {
	for op, want := range map[Op]string{OpCreate: "create", OpUpdate: "update", OpDelete: "delete", OpRead: "read", OpTruncate: "truncate", "?": "unknown"} {
		if got := op.Name(); got != want {
			t.Errorf("%q.Name() = %q, want %q", op, got, want)
		}
	}
	base := errors.New("boom")
	err := fmt.Errorf("ctx: %w", Permanent(base))
	if !IsPermanent(err) || !errors.Is(err, base) || IsPermanent(base) || Permanent(nil) != nil {
		t.Error("Permanent/IsPermanent")
	}
}
