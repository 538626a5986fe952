package testenv

import (
	"errors"
	"net"
)

// TB is what the Must* helpers and the methods tests call need of their
// caller: *testing.T and *testing.B are one. An interface rather than
// testing.TB, so that `ficus demo`, which starts its databases with the
// error-returning Start* functions, does not link package testing into the
// binary.
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

// logf calls f when it is set: the Start* functions' Logf option.
func logf(f func(format string, args ...any), format string, args ...any) {
	if f != nil {
		f(format, args...)
	}
}
