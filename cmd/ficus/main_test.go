package main

import (
	"bytes"
	"context"
	"io"
	"net"
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
)

// binDir holds the ficus binary the process tests run, built once by TestMain.
var binDir string

func TestMain(m *testing.M) {
	if os.Getenv(natsChildEnv) != "" {
		os.Exit(natsChild()) // a client process of TestEmbeddedNATSRequiresCredentials
	}
	dir, err := os.MkdirTemp("", "ficus-bin-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var buildOnce sync.Once

// buildFicus compiles the real binary once per test run.
func buildFicus(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(binDir, "ficus")
	var err error
	buildOnce.Do(func() {
		cmd := exec.Command("go", "build", "-o", bin, ".")
		cmd.Stderr = os.Stderr
		err = cmd.Run()
	})
	if _, statErr := os.Stat(bin); err != nil || statErr != nil {
		t.Fatalf("go build: %v %v", err, statErr)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// The foundation's promise: `ficus run -c testdata/minimal.yaml` starts, /readyz
// answers 200, an outside NATS client publishes to JetStream on the embedded
// listener, and SIGTERM stops the process within 5 s with exit code 0.
func TestRunMinimalServesAndStopsOnSIGTERM(t *testing.T) {
	bin := buildFicus(t)
	natsAddr, adminAddr, data := freeAddr(t), freeAddr(t), t.TempDir()
	cmd := exec.Command(bin, "run", "-c", "../../testdata/minimal.yaml")
	cmd.Env = append(os.Environ(),
		"FICUS_NATS_LISTEN="+natsAddr, "FICUS_ADMIN_LISTEN="+adminAddr, "FICUS_DATA="+data)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("ficus output:\n%s", logs.String())
		}
	})

	waitAdminReady(t, adminAddr, "", exited)

	// The URL with credentials, from `ficus nats-url` with the same environment.
	urlCmd := exec.Command(bin, "nats-url", "-c", "../../testdata/minimal.yaml")
	urlCmd.Env = cmd.Env
	url, err := urlCmd.Output()
	if err != nil {
		t.Fatalf("ficus nats-url: %v", err)
	}
	nc, err := nats.Connect(strings.TrimSpace(string(url)))
	if err != nil {
		t.Fatalf("connect to the embedded listener: %v", err)
	}
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OUTSIDE", Subjects: []string{"outside.>"}}); err != nil {
		t.Fatal(err)
	}
	if ack, err := js.Publish(ctx, "outside.x", []byte("hi")); err != nil || ack.Sequence != 1 {
		t.Fatalf("publish: %v %+v", err, ack)
	}
	nc.Close()
	if _, err := os.Stat(filepath.Join(data, "nats", "jetstream")); err != nil {
		t.Errorf("JetStream did not store under nats.embedded.store_dir: %v", err)
	}

	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("stopping took %s", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ficus did not stop within 5 s of SIGTERM")
	}
	if !strings.Contains(logs.String(), "shutting down") {
		t.Errorf("no shutdown log line in:\n%s", logs.String())
	}
}

// `ficus validate` prints exactly the golden messages for every broken config and
// exits 1; good configs give a one-line summary and exit 0.
func TestValidateGolden(t *testing.T) {
	// Run where the files are, so messages carry the file name as a user would type it.
	t.Chdir("../../testdata/config")
	setEnvFile(t, "golden.env")
	t.Setenv("LEGACY_PG_DSN", "")
	os.Unsetenv("LEGACY_PG_DSN")
	broken, _ := filepath.Glob("broken_*.yaml")
	if len(broken) < 8 {
		t.Fatalf("want at least 8 broken configs, found %d", len(broken))
	}
	for _, f := range broken {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want, err := os.ReadFile(strings.TrimSuffix(f, ".yaml") + ".golden")
			if err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			code := realMain(context.Background(), []string{"validate", "-c", f}, &out, &errb)
			if code != 1 {
				t.Fatalf("exit %d, want 1 (stderr %q)", code, errb.String())
			}
			if got := strings.TrimSpace(out.String()); got != strings.TrimSpace(string(want)) {
				t.Fatalf("output:\n%s\nwant:\n%s", got, want)
			}
		})
	}
	t.Setenv("LEGACY_PG_DSN", "postgres://ficus@127.0.0.1:5432/shop")
	for _, f := range []string{"../minimal.yaml", "../full.yaml"} {
		var out bytes.Buffer
		code := realMain(context.Background(), []string{"validate", "-c", f}, &out, io.Discard)
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if code != 0 || len(lines) != 1 || !strings.Contains(lines[0], ": ok: ") {
			t.Errorf("validate %s: exit %d, output %q", f, code, out.String())
		}
	}
}

// setEnvFile sets the KEY=VALUE lines of a file for the test's duration.
func setEnvFile(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			t.Setenv(k, v)
		}
	}
}

func TestHelpNamesConfigKeys(t *testing.T) {
	for _, c := range commands() {
		var out bytes.Buffer
		code := realMain(context.Background(), []string{c.name, "--help"}, &out, &out)
		if code != 0 || !strings.Contains(out.String(), "Usage: ficus") {
			t.Errorf("%s --help: exit %d, %q", c.name, code, out.String())
		}
		if c.name != "version" && !strings.Contains(out.String(), "Config keys read:") {
			t.Errorf("%s --help does not say which config keys it reads", c.name)
		}
	}
	var out bytes.Buffer
	if code := realMain(context.Background(), []string{"nope"}, &out, &out); code != 2 {
		t.Errorf("unknown command exit %d", code)
	}
}
