package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Prometheus is a real Prometheus server (the Debian package's binary;
// deploy/install-deps.sh test installs it) on a free 127.0.0.1 port with
// a temporary store, scraping one target every second.
type Prometheus struct {
	URL  string
	cmd  *exec.Cmd
	logs *LogBuffer
}

// MustStartPrometheus starts a server scraping target (host:port, path
// /metrics) and waits until it is ready; the test's cleanup kills it.
func MustStartPrometheus(t TB, target string) *Prometheus {
	t.Helper()
	bin, err := findBinary("prometheus", "/usr/bin")
	if err != nil {
		t.Fatalf("testenv: %v (run deploy/install-deps.sh test)", err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "prometheus.yml")
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: test\n    static_configs:\n      - targets: [%q]\n", target)
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	port := FreePort(t)
	p := &Prometheus{URL: fmt.Sprintf("http://127.0.0.1:%d", port), logs: &LogBuffer{}}
	p.cmd = exec.Command(bin, "--config.file="+conf, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port))
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("testenv: start prometheus: %v", err)
	}
	t.Cleanup(p.Kill)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/-/ready", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("testenv: prometheus not ready on %s; its log:\n%s", p.URL, p.logs.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Kill stops the server by its PID at once (SIGKILL) and waits for it.
func (p *Prometheus) Kill() {
	if p.cmd.Process == nil || p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}
