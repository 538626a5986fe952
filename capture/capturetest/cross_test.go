package capturetest

import (
	"os"
	"strings"
	"testing"
)

// TestGoldensAgree: the two readers' goldens (each checked against a real
// server's snapshot and stream by TestConformance/Types) end with the
// CrossCases, and those lines publish byte-identical JSON on both engines.
func TestGoldensAgree(t *testing.T) {
	t.Parallel()
	tail := func(path string) []string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if len(lines) < len(CrossCases) {
			t.Fatalf("%s: %d lines, fewer than the %d cross-engine cases", path, len(lines), len(CrossCases))
		}
		return lines[len(lines)-len(CrossCases):]
	}
	pg := tail("../../testdata/capture/postgres/types.golden")
	my := tail("../../testdata/capture/mysql/types.golden")
	for i, c := range CrossCases {
		pgType, pgJSON, _ := strings.Cut(pg[i], " => ")
		myType, myJSON, _ := strings.Cut(my[i], " => ")
		if !strings.HasPrefix(pgType, c.PGType+" | ") || !strings.HasPrefix(myType, c.MyType+" | ") {
			t.Fatalf("case %q: golden lines %q and %q are not this case (regenerate with -update)", c.Name, pg[i], my[i])
		}
		if pgJSON != myJSON || pgJSON != c.Want {
			t.Errorf("case %q: PostgreSQL %s, MySQL %s, want both %s", c.Name, pgJSON, myJSON, c.Want)
		}
	}
}
