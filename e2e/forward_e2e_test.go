package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/internal/testenv"
)

const forwardConfig = `
nats: {embedded: {listen: %q, store_dir: %q}}
admin: {listen: %q, token: "${E2E_TOKEN}"}
proxy:
  listen: %q
  mode: forward
  forward:
    allow:
      # Named exactly, so these loopback ports are open, except ficus's own.
      - {host: 127.0.0.1, ports: [%s, %s, %s]}
`

// TestForwardProxyRefusesOwnListeners runs the binary in forward mode: a
// loopback backend named in proxy.forward.allow is reached, while ficus's
// admin port and its embedded NATS port are refused even though the same
// rule names them.
func TestForwardProxyRefusesOwnListeners(t *testing.T) {
	legacy := backend("legacy")
	defer legacy.Close()
	t.Setenv("E2E_TOKEN", "e2e-s3cret")
	natsAddr, adminAddr, proxyAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	legacyAddr := strings.TrimPrefix(legacy.URL, "http://")
	port := func(a string) string { _, p, _ := net.SplitHostPort(a); return p }
	cfg := writeConfig(t, fmt.Sprintf(forwardConfig, natsAddr, t.TempDir(), adminAddr, proxyAddr,
		port(legacyAddr), port(adminAddr), port(natsAddr)))
	logs := &testenv.LogBuffer{}
	proc := startFicus(t, buildFicus(t), logs, "run", "-c", cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ficus logs:\n%s", tail(logs.String(), 8000))
		}
	})
	waitAdminReady(t, adminAddr, "e2e-s3cret", proc.exited)

	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: proxyAddr})}}
	get := func(u string) (int, string) {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatalf("GET %s through the proxy: %v", u, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(legacy.URL + "/x"); code != http.StatusOK || !strings.Contains(body, `"side":"legacy"`) {
		t.Errorf("allowed backend: %d %s", code, body)
	}
	if code, body := get("http://" + adminAddr + "/readyz"); code != http.StatusForbidden || !strings.Contains(body, `"reason":"self"`) {
		t.Errorf("admin port through the proxy: %d %s, want 403 self", code, body)
	}

	conn, err := net.DialTimeout("tcp", proxyAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", natsAddr, natsAddr)
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), `"reason":"self"`) {
		t.Errorf("CONNECT to the NATS port: %d %s, want 403 self", resp.StatusCode, b)
	}

	metrics, err := adminAPI(adminAddr, "e2e-s3cret").Metrics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(metrics, `ficus_proxy_forward_denied_total{reason="self"} 2`) {
		t.Errorf("metrics do not count the two refusals:\n%s", grepLines(metrics, "ficus_proxy_forward_denied"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
