package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/internal/admin/client"
)

// A fleet is several real ficus processes (sidecars) sharing one NATS, as
// in production with one ficus per legacy pod.

const fleetToken = "fleet-s3cret"

const fleetConfig = `
log: {level: info}
nats: {url: %q}
admin: {listen: %q, token: %q}
proxy:
  listen: %q
  legacy: %q
  routes:
%s
shadow: {workers: 4, queue: 1000}
data_dir: %q
`

type member struct {
	admin, proxy, cfg string
	logs              *lockedBuffer
	proc              *ficusProc
	down              bool // stopped and not started again
}

type fleet struct {
	t       *testing.T
	bin     string
	members []*member
}

// startFleet starts n processes with the same routes (YAML list items,
// indented for proxy.routes) against natsURL.
func startFleet(t *testing.T, n int, natsURL, legacyURL, routes string) *fleet {
	t.Helper()
	// The token is in each file, not the environment: the outage tests run
	// in parallel, and t.Setenv forbids that.
	f := &fleet{t: t, bin: buildFicus(t)}
	for i := 0; i < n; i++ {
		m := &member{admin: freeAddr(t), proxy: freeAddr(t), logs: &lockedBuffer{}}
		m.cfg = filepath.Join(t.TempDir(), "ficus.yaml")
		body := fmt.Sprintf(fleetConfig, natsURL, m.admin, fleetToken, m.proxy, legacyURL, routes, filepath.Join(t.TempDir(), "data"))
		if err := os.WriteFile(m.cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		f.members = append(f.members, m)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for i, m := range f.members {
				t.Logf("ficus %d logs:\n%s", i, tail(m.logs.String(), 6000))
			}
		}
	})
	for i := range f.members {
		f.start(i)
	}
	for i := range f.members {
		f.waitReady(i)
	}
	return f
}

func (f *fleet) start(i int) {
	m := f.members[i]
	m.proc = startFicus(f.t, f.bin, m.logs, "proxy", "-c", m.cfg)
	m.down = false
}

// waitReady waits for member i's /readyz; an exit is put back on the
// process's channel so that the cleanup's kill does not wait for it forever.
func (f *fleet) waitReady(i int) {
	f.t.Helper()
	waitAdminReady(f.t, f.members[i].admin, fleetToken, f.members[i].proc.exited)
}

// stop ends member i with sig (SIGTERM: clean; SIGKILL: crash) and waits.
func (f *fleet) stop(i int, sig syscall.Signal) {
	m := f.members[i]
	if m.down {
		return
	}
	m.down = true
	_ = m.proc.cmd.Process.Signal(sig)
	select {
	case <-m.proc.exited:
		m.proc.exited <- nil
	case <-time.After(10 * time.Second):
		f.t.Fatalf("ficus %d did not stop within 10 s of %v", i, sig)
	}
}

func (f *fleet) pid(i int) int { return f.members[i].proc.cmd.Process.Pid }

// admin is member i's admin API.
func (f *fleet) admin(i int) *client.Client { return adminAPI(f.members[i].admin, fleetToken) }

// weight is the weight member i applies to a route.
func (f *fleet) weight(i int, name string) (float64, error) {
	routes, err := f.admin(i).Routes(f.t.Context())
	if err != nil {
		return 0, err
	}
	for _, r := range routes {
		if r.Name == name {
			return r.Weight, nil
		}
	}
	return 0, fmt.Errorf("route %q not in member %d's table", name, i)
}

// servedBy sends one real request through member i's proxy.
func (f *fleet) servedBy(i int, path string) (string, error) {
	resp, err := http.Get("http://" + f.members[i].proxy + path)
	if err != nil {
		return "", err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.Header.Get("Ficus-Served-By"), nil
}

// routesCmd runs `ficus routes ARGS -c <member i's config>` in-process:
// the address and token come from the file.
func (f *fleet) routesCmd(i int, args ...string) (string, error) {
	var out strings.Builder
	args = append([]string{"routes"}, append(args, "-c", f.members[i].cfg)...)
	if code := realMain(f.t.Context(), args, &out, &out); code != 0 {
		return out.String(), fmt.Errorf("ficus %s: exit %d: %s", strings.Join(args, " "), code, out.String())
	}
	return out.String(), nil
}
