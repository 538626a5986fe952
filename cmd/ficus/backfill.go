package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ficus-migrate/ficus/capture/backfill"
	"github.com/ficus-migrate/ficus/internal/admin/client"
)

const backfillHelp = `Usage: ficus capture backfill SOURCE TABLE [--where SQL] [--chunk 10000] [-c FILE] [--admin URL]

Queues a backfill of TABLE (as in capture.sources[].tables: schema.table, for mysql
db.table) on the running ficus that streams SOURCE, through its admin API
(POST /api/capture/SOURCE/backfill). The table is read in chunks by primary key, without
locks, while its changes stream, and its rows are published as op "r" events in
stream order (DBLog watermarks in capture.sources[].signal_table): no row is sent
older than a change already published. Backfills of one source run one at a time,
in the order queued; progress is in GET /api/capture/SOURCE, the log and the metrics
ficus_capture_backfill_rows_total and ficus_capture_backfill_chunks_total.
A hot standby answers 409: send the request to the process that is active.
The admin address and token come from the config file (admin.listen, admin.token), or
from --admin and the FICUS_ADMIN_TOKEN environment variable.

Config keys read: admin.listen, admin.token
`

// backfillCmd is `ficus capture backfill`.
func backfillCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("capture backfill", backfillHelp, stderr)
	path := configFlag(fs)
	adminURL := fs.String("admin", "", "admin API base URL, e.g. http://127.0.0.1:9901 (default: from admin.listen)")
	where := fs.String("where", "", "SQL condition restricting the rows read (one condition, no ';')")
	chunk := fs.Int("chunk", backfill.DefaultChunk, "rows per chunk")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		fs.Usage()
		return &exitError{code: 2, err: errors.New("usage: ficus capture backfill SOURCE TABLE [--where SQL] [--chunk 10000]")}
	}
	base, token, err := adminEndpoint(*path, *adminURL)
	if err != nil {
		return err
	}
	api := client.New(client.Config{BaseURL: base, Token: token, Timeout: 30 * time.Second})
	job, err := api.Backfill(ctx, pos[0], backfill.Request{Table: pos[1], Where: *where, Chunk: *chunk})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backfill %s of %s queued (chunks of %d rows); progress: GET /api/capture/%s\n",
		job.ID, job.Table, job.Chunk, pos[0])
	return nil
}
