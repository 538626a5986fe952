package e2e

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/admin/client"
	"github.com/ficus-migrate/ficus/internal/testenv"
)

// ficusPkg is the binary under test, named by package path so that the
// build works from any directory of the module.
const ficusPkg = "github.com/ficus-migrate/ficus/cmd/ficus"

// binDir holds the ficus binary the tests run; TestMain makes and removes it.
var binDir string

func TestMain(m *testing.M) {
	if os.Getenv(natsChildEnv) != "" {
		os.Exit(natsChild()) // a client process of TestEmbeddedNATSRequiresCredentials
	}
	dir, err := os.MkdirTemp("", "ficus-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	binDir = dir
	flag.Parse()
	widenParallel()
	code := m.Run()
	_ = os.RemoveAll(dir) // best effort: a temporary directory
	os.Exit(code)
}

// e2eParallel is how many of this package's tests run at once unless
// -parallel says otherwise. They spend most of their time waiting (rollout
// intervals, lease expiry, outages, child processes starting), not on the
// CPU, so more than GOMAXPROCS of them fit: run one after the other they took
// 7-8 minutes of `make test`'s 15.
const e2eParallel = 4

// widenParallel raises -test.parallel to e2eParallel when it was not given.
func widenParallel() {
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if p := flag.Lookup("test.parallel"); p != nil && !given {
		if err := p.Value.Set(fmt.Sprint(e2eParallel)); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: set -test.parallel:", err)
		}
	}
}

var buildOnce sync.Once

// buildFicus compiles the real binary once per test run.
func buildFicus(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(binDir, "ficus")
	var err error
	buildOnce.Do(func() {
		cmd := exec.Command("go", "build", "-o", bin, ficusPkg)
		cmd.Stderr = os.Stderr
		err = cmd.Run()
	})
	if _, statErr := os.Stat(bin); err != nil || statErr != nil {
		t.Fatalf("go build: %v %v", err, statErr)
	}
	return bin
}

// runFicus runs the real binary with args to its end, its output going to
// stdout and stderr (which may be the same writer), and returns its exit
// status: a command as a user's shell runs it.
func runFicus(ctx context.Context, t *testing.T, stdout, stderr io.Writer, args ...string) int {
	t.Helper()
	cmd := exec.CommandContext(ctx, buildFicus(t), args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("ficus %s: %v", strings.Join(args, " "), err)
	}
	return 0
}

// ficusProc is one run of the real ficus binary.
type ficusProc struct {
	cmd    *exec.Cmd
	logs   *testenv.LogBuffer
	exited chan error
}

// startFicus starts the binary with args, its output going to logs; the
// process is killed when the test ends (and with the test process).
func startFicus(t *testing.T, bin string, logs *testenv.LogBuffer, args ...string) *ficusProc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &ficusProc{cmd: cmd, logs: logs, exited: make(chan error, 1)}
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *ficusProc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = <-p.exited  // killed on purpose: how it ended does not matter
	p.exited <- nil // later kills return at once
}

// writeConfig writes body as a ficus.yaml of its own and returns its path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ficus.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// freeAddr returns a 127.0.0.1 address that was free a moment ago and that
// no other test of this process was given (testenv.FreePort).
func freeAddr(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
}

// tail is the last n bytes of s: the end of a long log.
func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// backend is a service behind ficus that says which side it is.
func backend(name string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"side":%q,"path":%q}`, name, r.URL.Path)
	}))
}

// adminAPI is the admin API of the ficus whose listener is at addr (host:port).
func adminAPI(addr, token string) *client.Client {
	return client.New(client.Config{BaseURL: "http://" + addr, Token: token})
}

// waitAdminReady waits for the ficus at addr to answer /readyz with ready;
// exited is the process's (ficusProc.exited): a result taken off it is put
// back for its cleanup.
func waitAdminReady(t *testing.T, addr, token string, exited chan error) {
	t.Helper()
	api := client.New(client.Config{BaseURL: "http://" + addr, Token: token, Timeout: 2 * time.Second})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("ficus exited before it was ready: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		if r, err := api.Ready(context.Background()); err == nil && r.Ready {
			return
		}
	}
	t.Fatalf("ficus at %s: /readyz never answered ready", addr)
}

// natsURLOf runs `ficus nats-url -c cfgPath`, which must print exactly one
// line: how tests reach the NATS of a ficus they started, with its
// credentials.
func natsURLOf(t *testing.T, cfgPath string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := runFicus(t.Context(), t, &stdout, &stderr, "nats-url", "-c", cfgPath); code != 0 || stderr.Len() > 0 {
		t.Fatalf("ficus nats-url: exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("ficus nats-url printed %d lines, want one", strings.Count(out, "\n"))
	}
	return strings.TrimSuffix(out, "\n")
}

// natsServer is one nats-server process on a fixed port and store dir,
// which a test kills (SIGKILL) and starts again on the same port and store:
// an outage as the sidecars of a separate NATS see it.
type natsServer struct {
	t    *testing.T
	bin  string
	conf string
	url  string
	cmd  *exec.Cmd
	done chan struct{}
}

// extra lines are added to the server's config file (e.g. "max_payload: 4096").
func startNATSServer(t *testing.T, extra ...string) *natsServer {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/nats-server"); err != nil {
			t.Fatalf("nats-server not installed (deploy/install-deps.sh test): %v", err)
		}
	}
	dir := t.TempDir()
	port := testenv.FreePort(t)
	n := &natsServer{t: t, bin: bin, conf: filepath.Join(dir, "nats.conf"), url: fmt.Sprintf("nats://127.0.0.1:%d", port)}
	conf := fmt.Sprintf("listen: \"127.0.0.1:%d\"\njetstream { store_dir: %q }\n", port, filepath.Join(dir, "js"))
	for _, l := range extra {
		conf += l + "\n"
	}
	if err := os.WriteFile(n.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.kill)
	n.start()
	return n
}

// start runs the server and waits until JetStream answers.
func (n *natsServer) start() {
	n.t.Helper()
	n.cmd = exec.Command(n.bin, "-c", n.conf)
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(n.cmd, n.done)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if jsUp(n.url) == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.t.Fatalf("nats-server on %s never answered JetStream requests", n.url)
}

func jsUp(url string) error {
	nc, err := nats.Connect(url, nats.Timeout(time.Second), nats.NoReconnect())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err
}

// kill ends the server with SIGKILL (no clean shutdown) and waits for it.
func (n *natsServer) kill() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
	n.cmd = nil
}
