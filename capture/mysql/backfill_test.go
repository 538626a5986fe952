package mysql

import (
	"context"
	"errors"
	"fmt"
	"testing"

	driver "github.com/go-sql-driver/mysql"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/capture/capturetest"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// TestBackfillWhileStreaming: capturetest.BackfillWhileStreaming on MariaDB,
// with its refusals of requests, and the signal table, which is in the
// captured database, never published.
func TestBackfillWhileStreaming(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	db := h.DB.DB(t)
	h.BackfillWhileStreaming(capturetest.BackfillCase{
		Table: "ficus.bf", Dialect: canon.MySQL,
		Setup: func(rows int) []string {
			return []string{
				`CREATE TABLE bf (id int PRIMARY KEY, v int NOT NULL, note varchar(40) NOT NULL, secret varchar(40) DEFAULT 'PLANTED-SECRET')`,
				`CREATE TABLE nokey (id int)`,
				fmt.Sprintf(`INSERT INTO bf (id, v, note) SELECT seq, 0, CONCAT('n', seq) FROM seq_1_to_%d`, rows),
			}
		},
		Source: func() (capture.Source, error) {
			cfg := config(h)
			// every table of the database, the signal table's too
			cfg.Snapshot, cfg.Backfill, cfg.Mask = SnapshotNever, h.Backfill, h.Mask
			return New(cfg)
		},
		Refused: []capturetest.BadRequest{
			{Name: "unknown table", Table: "ficus.nope"},
			{Name: "other database", Table: "mysql.user"},
			{Name: "no primary key", Table: "ficus.nokey"},
			{Name: "signal table", Table: "ficus.ficus_signal"},
			{Name: "second statement", Table: "ficus.bf", Where: "1=1; DROP TABLE bf"},
			{Name: "comment", Table: "ficus.bf", Where: "1=1 # x"},
			{Name: "bad column", Table: "ficus.bf", Where: "nosuch > 1"},
		},
		Writer: capturetest.Writer{
			Update:  "UPDATE bf SET v = v + 1, note = CONCAT('u', v) WHERE id = ?",
			Delete:  "DELETE FROM bf WHERE id = ?",
			Upsert:  "INSERT INTO bf (id, v, note) VALUES (?, 1, 'i') ON DUPLICATE KEY UPDATE v = v + 1, note = 'r'",
			MoveKey: "UPDATE IGNORE bf SET id = id + 1000000 WHERE id = ?",
			Benign:  changedNothing,
		},
		// *sql.DB is a pool: the writers share it.
		NewExec: func() func(context.Context, string, int) error { return capturetest.ExecOf(db.ExecContext) },
		Lines: func(ctx context.Context) []string {
			rows, err := db.QueryContext(ctx, capturetest.TableQuery)
			return capturetest.TableLines(t, rows, err)
		},
		Then: func(context.Context) {
			if n := h.Replay("ficus_signal"); n.Reads+n.Changes != 0 {
				t.Errorf("%d events of the signal table published", n.Reads+n.Changes)
			}
		},
	})
}

// changedNothing: a key moved onto one another writer has (1062), or a
// deadlock (1213), left the table as it was; the writer goes on.
func changedNothing(err error) bool {
	var me *driver.MySQLError
	return errors.As(err, &me) && (me.Number == 1062 || me.Number == 1213)
}
