package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// stopTimeout bounds a graceful shutdown before we fall back to SIGKILL.
	stopTimeout = 10 * time.Second
	// readyTimeout bounds how long a freshly started server may take to
	// accept connections.
	readyTimeout = 30 * time.Second
	// logTailBytes is how much of a server log is quoted in errors.
	logTailBytes = 4096
	// portAttempts: FreePort closes its listener before the server binds,
	// so another process can grab the port in between; retry a few times.
	portAttempts = 3
)

// errPortInUse reports that a server exited because its port was taken.
var errPortInUse = errors.New("port already in use")

// identity is the OS user the database servers run as. The zero value means
// "the current user" (used when the tests do not run as root).
type identity struct {
	name     string
	uid, gid int
	cred     *syscall.Credential
}

// identityFor returns the identity to run a server as: the named system
// user when running as root (PostgreSQL and MariaDB refuse to run as root),
// the current user otherwise.
func identityFor(systemUser, debPackage string) (identity, error) {
	if os.Geteuid() != 0 {
		return identity{uid: os.Geteuid(), gid: os.Getegid()}, nil
	}
	u, err := user.Lookup(systemUser)
	if err != nil {
		return identity{}, fmt.Errorf("running as root, so the server must run as system user %q, but: %w (install the Debian package %s)", systemUser, err, debPackage)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return identity{}, fmt.Errorf("parse uid of user %q: %w", systemUser, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return identity{}, fmt.Errorf("parse gid of user %q: %w", systemUser, err)
	}
	return identity{
		name: systemUser,
		uid:  uid,
		gid:  gid,
		// Groups is empty on purpose: drop root's supplementary groups.
		cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)},
	}, nil
}

func (id identity) sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Credential: id.cred,
		// Own process group, so Kill can take out a server's children
		// (PostgreSQL backends) together with it.
		Setpgid: true,
		// Servers must not outlive a test binary that crashes or is killed.
		Pdeathsig: syscall.SIGKILL,
	}
}

// scratchDir creates a private directory the server user can write. It is
// not under t.TempDir(), whose parents are 0700 and owned by the test user.
func (id identity) scratchDir(prefix string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", fmt.Errorf("create temp dir: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("chmod %s: %w", dir, err)
	}
	if err := id.chown(dir); err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

func (id identity) chown(path string) error {
	if id.cred == nil {
		return nil
	}
	if err := os.Chown(path, id.uid, id.gid); err != nil {
		return fmt.Errorf("chown %s to %s: %w", path, id.name, err)
	}
	return nil
}

// runTool runs a short-lived helper (initdb, mariadb-install-db) as id and
// returns an error quoting the tail of its output when it fails.
func (id identity) runTool(ctx context.Context, dir, bin string, args ...string) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = id.sysProcAttr()
	cmd.WaitDelay = stopTimeout
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("run %s: %w\n%s", bin, err, tail(out, logTailBytes))
	}
	return nil
}

// process is one long-running server child process. It can be started
// again after it stopped (Restart) with the same command line.
type process struct {
	name    string
	bin     string
	args    []string
	dir     string
	logPath string
	id      identity
	// stopSignal asks for a clean shutdown that does not wait for clients.
	stopSignal syscall.Signal

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd.Wait returned
}

// start launches the server. truncateLog discards the log of a previous
// attempt so that port-conflict detection looks only at this run.
func (p *process) start(truncateLog bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return fmt.Errorf("start %s: already running as pid %d", p.name, p.cmd.Process.Pid)
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if truncateLog {
		flags |= os.O_TRUNC
	}
	logFile, err := os.OpenFile(p.logPath, flags, 0o644)
	if err != nil {
		return fmt.Errorf("open %s log: %w", p.name, err)
	}
	defer logFile.Close() // the child holds its own copy of the descriptor

	cmd := exec.Command(p.bin, p.args...)
	cmd.Dir = p.dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = p.id.sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s (%s): %w", p.name, p.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait() // exit status is irrelevant: we judge by readiness and the log
		close(done)
	}()
	p.cmd, p.done = cmd, done
	return nil
}

// pid returns the server's PID, or 0 when it is not running.
func (p *process) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// exited returns a channel closed when the current run ends; nil (blocks
// forever) when nothing runs.
func (p *process) exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// stop asks the server to shut down, waits up to stopTimeout and then
// kills it. It is a no-op when the server is not running.
func (p *process) stop() error {
	return p.terminate(p.stopSignal, stopTimeout)
}

// kill simulates a crash: SIGKILL to the server and all its descendants.
func (p *process) kill() error {
	return p.terminate(syscall.SIGKILL, stopTimeout)
}

func (p *process) terminate(sig syscall.Signal, timeout time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil
	}
	pid := p.cmd.Process.Pid
	var errs []error
	if sig == syscall.SIGKILL {
		errs = append(errs, killTree(pid, timeout))
		<-p.done // SIGKILL cannot be ignored
	} else {
		if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("signal %s pid %d with %s: %w", p.name, pid, sig, err))
		}
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		select {
		case <-p.done:
			// A cleanly stopped server has already waited for its children.
		case <-timer.C:
			errs = append(errs, fmt.Errorf("%s pid %d did not exit within %s after %s; killed", p.name, pid, timeout, sig))
			errs = append(errs, killTree(pid, timeout))
			<-p.done
		}
	}
	p.cmd, p.done = nil, nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	return nil
}

// logTail returns the last part of the server log, for error messages.
func (p *process) logTail() string {
	return fileTail(p.logPath, logTailBytes)
}

// waitReady polls probe until it succeeds, the process exits or
// readyTimeout passes. Errors carry the tail of the server log.
func (p *process) waitReady(ctx context.Context, probe func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	exited := p.exited()
	var lastErr error
	for {
		attemptCtx, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		lastErr = probe(attemptCtx)
		cancelAttempt()
		if lastErr == nil {
			return nil
		}
		select {
		case <-exited:
			logText := p.logTail()
			if strings.Contains(logText, "already in use") {
				return fmt.Errorf("%s exited: %w\n%s", p.name, errPortInUse, logText)
			}
			return fmt.Errorf("%s exited before accepting connections (last probe: %v); log tail:\n%s", p.name, lastErr, logText)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s (last probe: %v); log tail:\n%s", p.name, readyTimeout, lastErr, p.logTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func fileTail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		if _, err := f.Seek(-n, io.SeekEnd); err != nil {
			return fmt.Sprintf("(read log: %v)", err)
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(read log: %v)", err)
	}
	return tail(b, int(n))
}

// tail returns at most the last n bytes of b, starting at a line boundary.
func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return strings.TrimRight(string(b), "\n")
}

// findBinary looks for name in dirs, then in PATH.
func findBinary(name string, dirs ...string) (string, error) {
	for _, d := range dirs {
		p := d + "/" + name
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("find %s in %s or PATH: %w", name, strings.Join(dirs, ", "), err)
	}
	return p, nil
}
