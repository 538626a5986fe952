package config

import "time"

// DataWhere restricts a comparison to the rows each side's condition
// selects (compare_data[].where). Used by `ficus reconcile` only: continuous
// mode compares every captured change, since it would take a query per
// change to evaluate an SQL condition on a captured row.
type DataWhere struct {
	// Legacy is an SQL condition in the legacy engine's dialect, such as
	// "tenant_id <> 7 AND deleted = 0". It is only ever put, parenthesised,
	// after the WHERE of reconcile's queries; ficus refuses a ';' here,
	// and at start a comment, a backslash, unbalanced parentheses, and
	// anything the database cannot plan (EXPLAIN). Optional.
	Legacy string `yaml:"legacy,omitempty"`
	// New is the same for the new side, in its dialect. Optional.
	New string `yaml:"new,omitempty"`
}

// DataUpdatedAt names each side's last-modified column
// (compare_data[].updated_at), a date or timestamp, for min_age.
type DataUpdatedAt struct {
	Legacy string `yaml:"legacy,omitempty"`
	New    string `yaml:"new,omitempty"`
}

// DataThrottle makes `ficus reconcile` gentle on production databases
// (compare_data[].throttle), in pt-table-checksum's manner. Every key is
// optional; an unset key throttles nothing.
type DataThrottle struct {
	// MaxQuerySeconds sizes the first pass's key ranges so that a checksum
	// query takes about this long, adapting to the time the last ranges
	// took. Between 0.01 and 3600.
	MaxQuerySeconds float64 `yaml:"max_query_seconds,omitempty"`
	// MaxThreadsRunning: before each range, wait while a side's server
	// runs more queries than this besides reconcile's own (MariaDB/MySQL
	// Threads_running, PostgreSQL active client backends).
	MaxThreadsRunning int `yaml:"max_threads_running,omitempty"`
	// MaxReplicaLag: wait while a MariaDB/MySQL side that is a replica
	// lags its primary by more than this (Seconds_Behind_Master), or a
	// PostgreSQL side's physical standbys replay further behind.
	MaxReplicaLag time.Duration `yaml:"max_replica_lag,omitempty"`
	// PauseFile: wait while this file exists.
	PauseFile string `yaml:"pause_file,omitempty"`
}
