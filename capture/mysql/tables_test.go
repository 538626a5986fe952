package mysql

import (
	"testing"

	"github.com/ficus-migrate/ficus/capture/capturetest"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// TestAddedTables: a table added to a running source's tables (restart) is
// added to the binlog filter and backfilled; one removed is no longer
// published (capturetest.RunAddedTables).
func TestAddedTables(t *testing.T) { capturetest.RunAddedTables(t, conformance, canon.MySQL) }
