package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ficus-migrate/ficus/internal/admin/client"
)

// ficusConfig writes the config for nroutes routes. With 1 route it is a
// weight-0 prefix route; with more, the request matches only the last one
// (the worst case for first-match routing) and every route is a 50 % split
// sticky on the "sid" cookie. extra is added to the single route's keys
// (shadowing, recording; only meaningful with 1 route).
func ficusConfig(dir string, proxyPort, adminPort int, legacy, newSide string, nroutes int, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `log:
  level: warn
nats:
  embedded:
    listen: 127.0.0.1:0
    store_dir: %s/nats
admin:
  listen: %s
proxy:
  listen: %s
  legacy: %s
  routes:
`, dir, addr(adminPort), addr(proxyPort), legacy)
	if nroutes == 1 {
		fmt.Fprintf(&b, "    - name: %s\n      match: {path_prefix: /api}\n      new: %s\n      weight: 0\n", shadowRoute, newSide)
		b.WriteString(extra)
		return b.String()
	}
	for i := range nroutes {
		prefix := fmt.Sprintf("/svc%02d", i)
		if i == nroutes-1 {
			prefix = "/api"
		}
		fmt.Fprintf(&b, "    - name: r%02d\n      match: {path_prefix: %s}\n      new: %s\n      weight: 50\n      sticky: cookie:sid\n",
			i, prefix, newSide)
	}
	return b.String()
}

// startFicus runs the real binary (as users do) and waits for /readyz.
func (b *proxyBench) startFicus(ctx context.Context, bin, name, legacy, newSide string, nroutes int, extra string) (string, error) {
	ports, err := freePorts(2)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(b.tmp, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	cfg := filepath.Join(dir, "ficus.yaml")
	if err := os.WriteFile(cfg, []byte(ficusConfig(dir, ports[0], ports[1], legacy, newSide, nroutes, extra)), 0o644); err != nil {
		return "", fmt.Errorf("ficus config: %w", err)
	}
	env := append([]string(nil), b.ficusEnv...)
	if b.profile == name {
		env = append(env, "FICUS_PPROF=1")
	}
	c, err := b.start(startChild(name, filepath.Join(dir, "ficus.log"), env, bin, "proxy", "-c", cfg))
	if err != nil {
		return "", err
	}
	b.adminURL = "http://" + addr(ports[1])
	if err := waitHTTP(ctx, c, b.adminURL+"/readyz"); err != nil {
		return "", err
	}
	return "http://" + addr(ports[0]), nil
}

// admin is the admin API of the ficus started last.
func (b *proxyBench) admin() *client.Client {
	return client.New(client.Config{BaseURL: b.adminURL, Timeout: 5 * time.Second})
}

// splitNote reports how the sticky route actually split the measured traffic.
func (b *proxyBench) splitNote(ctx context.Context) string {
	routes, err := b.admin().Routes(ctx)
	if err != nil {
		return "(split unknown: " + err.Error() + ")"
	}
	for _, r := range routes {
		if l, n := r.Counts.Legacy.Requests, r.Counts.New.Requests; l+n > 0 {
			return fmt.Sprintf("(route %s: %.1f %% of %d requests to new)", r.Name, 100*float64(n)/float64(l+n), l+n)
		}
	}
	return "(no requests counted)"
}

// takeProfiles records a CPU profile over most of the measurement, then a
// heap-allocation profile, from ficus's admin listener (FICUS_PPROF=1).
func (b *proxyBench) takeProfiles(ctx context.Context, name string) error {
	if err := os.MkdirAll(b.outDir, 0o755); err != nil {
		return err
	}
	secs := int(b.wrk.duration.Seconds()) - 2
	if secs < 1 {
		secs = 1
	}
	time.Sleep(time.Second)
	stamp := time.Now().Format("20060102-150405")
	for _, p := range []struct{ path, file string }{
		{fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), name + "-cpu-" + stamp + ".pprof"},
		{"/debug/pprof/allocs", name + "-allocs-" + stamp + ".pprof"},
	} {
		if err := download(ctx, b.adminURL+p.path, filepath.Join(b.outDir, p.file)); err != nil {
			return err
		}
		fmt.Fprintf(b.stdout, "  profile: %s\n", filepath.Join(b.outDir, p.file))
	}
	return nil
}

func download(ctx context.Context, url, path string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close() // the copy's error is the one to report
		return err
	}
	return f.Close()
}
