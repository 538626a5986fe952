package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/internal/testenv"
)

const proxyConfig = `
nats: {embedded: {listen: "127.0.0.1:0", store_dir: %q}}
admin: {listen: %q, token: "${E2E_TOKEN}"}
proxy:
  listen: %q
  legacy: %q
  routes:
    - name: orders-read
      match: {path_prefix: /api/orders, methods: [GET]}
      new: %q
      weight: %s
`

// The proxy as users run it: the real binary in front of a legacy and a new
// service; weights changed through `ficus routes set` and by editing the file.
func TestProxyRoutesAndLiveChanges(t *testing.T) {
	legacy, newSvc := backend("legacy"), backend("new")
	defer legacy.Close()
	defer newSvc.Close()
	t.Setenv("E2E_TOKEN", "e2e-s3cret")
	adminAddr, proxyAddr, store := freeAddr(t), freeAddr(t), t.TempDir()
	write := func(path, weight string) {
		body := fmt.Sprintf(proxyConfig, store, adminAddr, proxyAddr, legacy.URL, newSvc.URL, weight)
		// Write-and-rename, as editors and ConfigMaps do, so the watcher never sees half a file.
		if err := os.WriteFile(path+".tmp", []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	cfg := writeConfig(t, "")
	write(cfg, "100")
	logs := &testenv.LogBuffer{}
	proc := startFicus(t, buildFicus(t), logs, "run", "-c", cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ficus logs:\n%s", tail(logs.String(), 8000))
		}
	})
	waitAdminReady(t, adminAddr, "e2e-s3cret", proc.exited)

	expectSide := func(path, want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		var got string
		for time.Now().Before(deadline) {
			resp, err := http.Get("http://" + proxyAddr + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got = resp.Header.Get("Ficus-Served-By"); got == want {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("GET %s served by %q, want %q", path, got, want)
	}
	expectSide("/api/orders/7", "new")
	expectSide("/api/customers/7", "legacy")

	// ficus routes set/list through the admin API, with the token from the config.
	var out bytes.Buffer
	if code := runFicus(context.Background(), t, &out, &out, "routes", "set", "orders-read", "--weight", "0", "-c", cfg); code != 0 {
		t.Fatalf("routes set: exit %d: %s", code, out.String())
	}
	expectSide("/api/orders/7", "legacy")
	out.Reset()
	if code := runFicus(context.Background(), t, &out, &out, "routes", "list", "-c", cfg); code != 0 || !strings.Contains(out.String(), "orders-read") {
		t.Fatalf("routes list: exit %d: %s", code, out.String())
	}
	out.Reset()
	if code := runFicus(context.Background(), t, &out, &out, "routes", "list", "--admin", "http://"+adminAddr); code == 0 {
		t.Fatalf("routes list without the token succeeded: %s", out.String())
	}

	// After the first start the bucket ficus_routes holds the weights: a reloaded file
	// changes matches and upstreams but not the weight set above; `routes set` does.
	reloads := strings.Count(logs.String(), "routes reloaded")
	write(cfg, "100")
	for d := time.Now().Add(5 * time.Second); strings.Count(logs.String(), "routes reloaded") == reloads; {
		if time.Now().After(d) {
			t.Fatal("the rewritten file was not reloaded")
		}
		time.Sleep(50 * time.Millisecond)
	}
	expectSide("/api/orders/7", "legacy")
	out.Reset()
	if code := runFicus(context.Background(), t, &out, &out, "routes", "set", "orders-read", "--weight", "100", "-c", cfg); code != 0 {
		t.Fatalf("routes set: exit %d: %s", code, out.String())
	}
	expectSide("/api/orders/7", "new")
	// A broken edit is rejected and the table stays.
	write(cfg, "140")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "reload rejected") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "must be between 0 and 100, got 140") {
		t.Fatalf("a broken edit was not logged with its error")
	}
	expectSide("/api/orders/7", "new")
	if strings.Contains(logs.String(), "e2e-s3cret") {
		t.Fatal("the admin token appears in the logs")
	}
}
