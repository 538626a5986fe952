// Package data is the half of shadow that compares tables: a legacy table
// and the new table that must end up holding the same rows (compare_data in
// the config). It holds no code of its own; its packages are:
//
//   - canon: one canonical text per column value, whichever engine
//     (MariaDB/MySQL or PostgreSQL) holds it, in Go and in SQL; both other
//     packages compare through it, so start reading here;
//   - continuous: the comparison while both sides run, following both
//     sides' change events on JetStream and reporting the keys that stay
//     different to the FICUS_DATA stream (Comparer.Run);
//   - reconcile: the one-off comparison of the tables as they are now,
//     checksumming key ranges inside both databases (ficus reconcile).
//
// A side may be a query instead of a table (a reshaped schema): reconcile
// reads it as the derived table "(query) AS ficus_q" (reconcile/query.go),
// and continuous mode follows the captured tables it reads and reads the
// query again for the keys their changes touch (continuous/query.go).
//
// The other half, package traffic, compares HTTP answers. Package report
// reads what both halves record.
package data
