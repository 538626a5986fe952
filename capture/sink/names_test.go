package sink

import (
	"testing"

	"github.com/ficus-migrate/ficus/capture"
)

func TestCETypeMatchesOpName(t *testing.T) {
	for _, op := range []capture.Op{capture.OpCreate, capture.OpUpdate, capture.OpDelete, capture.OpRead, capture.OpTruncate, "?"} {
		if got, want := ceType(op), "io.ficus.cdc."+op.Name(); got != want {
			t.Errorf("ceType(%q) = %q, want %q", op, got, want)
		}
	}
}
