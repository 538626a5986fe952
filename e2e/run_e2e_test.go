package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The foundation's promise: `ficus run -c testdata/minimal.yaml` starts, /readyz
// answers 200, an outside NATS client publishes to JetStream on the embedded
// listener, and SIGTERM stops the process within 5 s with exit code 0.
func TestRunMinimalServesAndStopsOnSIGTERM(t *testing.T) {
	t.Parallel()
	bin := buildFicus(t)
	natsAddr, adminAddr, data := freeAddr(t), freeAddr(t), t.TempDir()
	cmd := exec.Command(bin, "run", "-c", "../testdata/minimal.yaml")
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
	urlCmd := exec.Command(bin, "nats-url", "-c", "../testdata/minimal.yaml")
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
