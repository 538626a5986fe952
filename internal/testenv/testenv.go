package testenv

import (
	"errors"
	"net"
	"os"
)

// TB is what the helpers need of their caller: *testing.T and *testing.B
// are one, and so is `ficus demo`'s runner, which starts its databases with
// these helpers and must not link package testing into the binary.
type TB interface {
	Helper()
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Failed() bool
	Cleanup(f func())
	TempDir() string
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// Another process may take it before the caller binds it; the Start
// helpers retry with a new port when that happens.
func FreePort(t TB) int {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return port
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startOnFreePort runs start with fresh ports until it succeeds or fails for
// a reason other than a port conflict.
func startOnFreePort(start func(port int, firstAttempt bool) error) (int, error) {
	var err error
	for attempt := 0; attempt < portAttempts; attempt++ {
		var port int
		port, err = freePort()
		if err != nil {
			return 0, err
		}
		err = start(port, attempt == 0)
		if err == nil {
			return port, nil
		}
		if !errors.Is(err, errPortInUse) {
			return 0, err
		}
	}
	return 0, err
}

// cleanupDir removes a scratch directory at the end of a test; failures are
// reported but do not stop other cleanups.
func cleanupDir(t TB, dir string) {
	if err := os.RemoveAll(dir); err != nil {
		t.Errorf("testenv: remove %s: %v", dir, err)
	}
}
