package main

import (
	"context"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/internal/admin/client"
)

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
