package testenv

import (
	"errors"
	"net"
	"os"
	"testing"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// Another process may take it before the caller binds it; the Start
// helpers retry with a new port when that happens.
func FreePort(t testing.TB) int {
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
func cleanupDir(t testing.TB, dir string) {
	if err := os.RemoveAll(dir); err != nil {
		t.Errorf("testenv: remove %s: %v", dir, err)
	}
}
