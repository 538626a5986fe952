package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// child is a process a benchmark started; stop ends it by its PID.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// startChild runs argv with stdout/stderr appended to logPath.
func startChild(name, logPath string, env []string, argv ...string) (*child, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = f.Close() // nothing was written to it; the start error is the one to report
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() {
		_ = cmd.Wait()
		_ = f.Close() // the child wrote through its own copy of the descriptor
		close(c.done)
	}()
	return c, nil
}

// stop sends SIGTERM to the child's PID, then SIGKILL after 5 s.
func (c *child) stop() {
	if c == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func freePorts(n int) ([]int, error) {
	// Hold all listeners until every port is chosen so none repeats.
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close() // only the port numbers were wanted
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// errNotInstalled marks a reference tool that is absent, so the benchmark
// can skip its row and run the rest.
var errNotInstalled = errors.New("not installed")

// findBinary looks name up in PATH, then at the given paths (/usr/sbin is
// not in a normal user's PATH); the error wraps errNotInstalled.
func findBinary(name string, paths ...string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s %w", name, errNotInstalled)
}

// waitHTTP polls url until it answers 200 (any status if any2xx is false),
// the child exits, or ctx/15 s runs out.
func waitHTTP(ctx context.Context, c *child, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	cl := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := cl.Do(req)
		if err == nil {
			_ = resp.Body.Close() // only the status matters
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(resp.Status)
		}
		if c != nil && c.exited() {
			return fmt.Errorf("%s exited before it was ready (log: %s)", c.name, c.log)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s: %v (log: %s)", c.name, url, err, c.log)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
