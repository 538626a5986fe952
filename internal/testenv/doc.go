// Package testenv starts throwaway, real PostgreSQL, MariaDB and NATS
// servers for tests, benchmarks and `ficus demo`. Every server listens on
// 127.0.0.1 on a free port and keeps its files in a private temporary
// directory; Close stops it (by PID) and removes that directory.
//
// StartPostgres, StartMariaDB, StartNATS and StartNATSCluster return an
// error; their Must* wrappers are for tests: they fail the test and close
// the server at test end via t.Cleanup.
//
// PostgreSQL and MariaDB are run from the installed Debian binaries
// (packages postgresql-15 and mariadb-server); NATS is embedded in the
// binary (the cluster runs the Debian package nats-server). When run as
// root, the database servers are started directly as the unprivileged users
// "postgres" and "mysql" (both refuse to run as root), so the PID held by
// the helpers is the server's own PID.
//
// The helpers are safe to use from parallel tests: each call starts its own
// server. A single server value must not be driven (Stop/Kill/Restart/Close)
// from several goroutines at once.
package testenv
