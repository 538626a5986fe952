package capture

import "context"

// Source reads one database's change log and publishes every row change to
// JetStream. capture/postgres and capture/mysql implement it; the process
// wiring runs one per configured source.
//
// Run captures until ctx ends, then returns nil. It returns an error only when
// capture cannot go on by itself (a Permanent error: a missing table or
// privilege, a server setting to change). Anything transient (the database or
// NATS down, a failed publish) is retried inside Run, resuming from the last
// position whose events JetStream acknowledged: no change is lost, and the
// ones published again carry their original Change.ID, which the stream drops
// as duplicates.
type Source interface {
	Run(ctx context.Context) error
}
