// Package backfill re-reads a captured table while its changes stream, and
// publishes its rows as op "r" events in stream order, with the watermark
// method of DBLog (Netflix; what Debezium's incremental snapshot implements).
//
// A table is read in chunks by primary key (keyset pagination, no locks). For
// each chunk the driver writes a low watermark to the source's signal table
// (capture.sources[].signal_table), reads the chunk, and writes a high
// watermark. The source's reader sees both watermarks in its change log: a
// streamed change of a key of the chunk that arrives between them removes the
// key from the chunk (the change is newer than, or as new as, what the chunk
// read), and what is left is published right at the high watermark. So a row
// is never sent older than a change already published, and every row is sent.
//
// This package is engine-neutral: Engine is what a reader (capture/postgres,
// capture/mysql) gives the driver, and Windows is what the reader calls when
// it streams past a watermark or a row change. State (the queue, the current
// job's last finished chunk and counts) lives in the JetStream KV bucket
// ficus_backfill, one key per source, so a backfill survives a kill -9 and
// continues after its last finished chunk; several requests queue and run
// one at a time per source.
package backfill
