package testenv

import (
	"errors"
	"net"
	"sync"
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
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close() // a probe: the caller binds the port
		if _, taken := handedOut.LoadOrStore(port, true); !taken {
			return port, nil
		}
	}
	return 0, errors.New("free port: the kernel kept offering ports already handed out")
}

// handedOut holds every port freePort returned in this process. Once a probe
// listener is closed the kernel offers its port again soon (here about one
// bind in seven within 2,000 repeats a port), and tests running in parallel
// would then be told the same port before either has bound it: one server
// fails, and a readiness probe may even be answered by the other test's.
// A process-wide set, as the ports are the process's (and the machine's).
var handedOut sync.Map

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
