// Package e2e holds the tests that run the real ficus binary: built once per
// test run from ./cmd/ficus, started as a child process with a config file,
// and driven as users drive it, through its proxy, admin API, NATS and
// command line. Most start throwaway PostgreSQL, MariaDB or NATS servers
// (internal/testenv); `make test` runs this package without the race
// detector (see internal/testsplit).
//
// The package has no code of its own: the shared helpers are in
// helpers_test.go (the binary and its processes), fleet_test.go (several
// sidecars on one NATS), cdc_test.go (reading a capture stream back) and
// findings_test.go (the data comparison's figures and findings).
package e2e
