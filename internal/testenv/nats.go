package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// NATS is an embedded (in-process) nats-server with JetStream enabled,
// storing its data in StoreDir.
type NATS struct {
	URL      string
	Port     int
	StoreDir string

	maxPayload int32
	srv        *server.Server
}

// NATSOptions configures StartNATS.
type NATSOptions struct {
	// Logf receives a line when the server is ready; nil discards it.
	Logf func(format string, args ...any)
	// MaxPayload is the server's max_payload in bytes; 0 keeps the
	// default (1 MiB).
	MaxPayload int32
}

// StartNATS starts an embedded NATS server with JetStream on 127.0.0.1 and
// a free port, storing its data in a fresh temp dir. The caller must Close
// it, which shuts the server down and removes the dir.
func StartNATS(ctx context.Context, opts NATSOptions) (*NATS, error) {
	began := time.Now()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	dir, err := os.MkdirTemp("", "ficus-testenv-nats-")
	if err != nil {
		return nil, fmt.Errorf("nats: create store dir: %w", err)
	}
	n := &NATS{StoreDir: dir, maxPayload: opts.MaxPayload}
	// Port -1 lets the server bind a free port itself (no race with other
	// processes); Restart then reuses the port it got.
	if err := n.start(server.RANDOM_PORT); err != nil {
		return nil, errors.Join(fmt.Errorf("nats: %w", err), n.Close())
	}
	logf(opts.Logf, "testenv: nats on %s ready in %s", n.URL, time.Since(began).Round(time.Millisecond))
	return n, nil
}

// Close shuts the server down and removes StoreDir.
func (n *NATS) Close() error {
	n.shutdown()
	if err := os.RemoveAll(n.StoreDir); err != nil {
		return fmt.Errorf("remove %s: %w", n.StoreDir, err)
	}
	return nil
}

func (n *NATS) start(port int) error {
	opts := &server.Options{
		ServerName: "ficus-testenv",
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   n.StoreDir,
		NoLog:      true,
		NoSigs:     true,
		MaxPayload: n.maxPayload,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("configure server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(readyTimeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return fmt.Errorf("server on 127.0.0.1:%d not ready after %s", port, readyTimeout)
	}
	addr, ok := srv.Addr().(*net.TCPAddr)
	if !ok {
		srv.Shutdown()
		srv.WaitForShutdown()
		return fmt.Errorf("unexpected listener address %v", srv.Addr())
	}
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		srv.WaitForShutdown()
		return fmt.Errorf("jetstream did not start (store dir %s)", n.StoreDir)
	}
	n.srv = srv
	n.Port = addr.Port
	n.URL = fmt.Sprintf("nats://127.0.0.1:%d", addr.Port)
	return nil
}

func (n *NATS) shutdown() {
	if n.srv == nil {
		return
	}
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
	n.srv = nil
}

// Server exposes the embedded server, e.g. to inspect JetStream state.
// It is nil while the server is stopped.
func (n *NATS) Server() *server.Server { return n.srv }

// Connect opens a client connection, closed at test end.
func (n *NATS) Connect(t TB, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(n.URL, opts...)
	if err != nil {
		t.Fatalf("testenv: connect to nats %s: %v", n.URL, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Stop shuts the server down; JetStream data stays in StoreDir.
func (n *NATS) Stop(t TB) {
	t.Helper()
	n.shutdown()
}

// Restart stops the server if running and starts it again on the same
// port with the same store dir, so JetStream streams survive.
func (n *NATS) Restart(t TB) {
	t.Helper()
	began := time.Now()
	n.shutdown()
	if err := n.start(n.Port); err != nil {
		t.Fatalf("testenv: restart nats: %v", err)
	}
	t.Logf("testenv: nats restarted on %s in %s", n.URL, time.Since(began).Round(time.Millisecond))
}
