package e2e

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/internal/admin/client"
	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/proxy/rollout"
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
	logs              *testenv.LogBuffer
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
		m := &member{admin: freeAddr(t), proxy: freeAddr(t), logs: &testenv.LogBuffer{}}
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
	case _ = <-m.proc.exited: // how it ended does not matter: it was stopped on purpose
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

// routesCmd runs `ficus routes ARGS -c <member i's config>`: the address
// and token come from the file.
func (f *fleet) routesCmd(i int, args ...string) (string, error) {
	f.t.Helper()
	var out strings.Builder
	args = append([]string{"routes"}, append(args, "-c", f.members[i].cfg)...)
	if code := runFicus(f.t.Context(), f.t, &out, &out, args...); code != 0 {
		return out.String(), fmt.Errorf("ficus %s: exit %d: %s", strings.Join(args, " "), code, out.String())
	}
	return out.String(), nil
}

// component is the state of a component in member i's GET /api/health.
func (f *fleet) component(i int, name string) (string, error) {
	h, err := f.admin(i).Health(f.t.Context())
	if err != nil {
		return "", err
	}
	for _, c := range h.Components {
		if c.Name == name {
			return c.Status, nil
		}
	}
	return "", fmt.Errorf("ficus %d: no component %q", i, name)
}

// waitComponent waits until every member reports the component in state.
func (f *fleet) waitComponent(name, state string, within time.Duration) time.Duration {
	f.t.Helper()
	began := time.Now()
	for i := range f.members {
		for {
			got, err := f.component(i, name)
			if err == nil && got == state {
				break
			}
			if time.Since(began) > within {
				f.t.Fatalf("ficus %d: component %s is %q (%v) after %v, want %q", i, name, got, err, within, state)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return time.Since(began)
}

// metric sums the samples of member i's /metrics whose line starts with prefix.
func (f *fleet) metric(i int, prefix string) float64 {
	f.t.Helper()
	text, err := f.admin(i).Metrics(f.t.Context())
	if err != nil {
		f.t.Fatal(err)
	}
	sum := 0.0
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, prefix) {
			fields := strings.Fields(line)
			v, _ := strconv.ParseFloat(fields[len(fields)-1], 64)
			sum += v
		}
	}
	return sum
}

// putWeight is PUT /api/routes/{name} on member i; it returns the status
// and, for a refusal, the server's reason.
func (f *fleet) putWeight(i int, name string, w float64) (int, string, error) {
	_, err := f.admin(i).SetWeight(f.t.Context(), name, w)
	var se *client.StatusError
	if errors.As(err, &se) {
		return se.Code, se.Body, nil
	}
	if err != nil {
		return 0, "", err
	}
	return http.StatusOK, "", nil
}

// sharedRoutes is one route at weight 0; %s is the new side's URL.
const sharedRoutes = `
    - name: orders-read
      match: {path_prefix: /api/orders}
      new: %s
      weight: 0
`

// waitAllServedBy polls every member with real requests until each is
// served by want; it returns when the last one was.
func (f *fleet) waitAllServedBy(path, want string, within time.Duration) time.Time {
	f.t.Helper()
	var mu sync.Mutex
	var last time.Time
	var wg sync.WaitGroup
	errs := make(chan error, len(f.members))
	deadline := time.Now().Add(within)
	for i := range f.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				side, err := f.servedBy(i, path)
				if err == nil && side == want {
					mu.Lock()
					if now := time.Now(); now.After(last) {
						last = now
					}
					mu.Unlock()
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
			errs <- fmt.Errorf("ficus %d still not served by %s after %v", i, want, within)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		f.t.Fatal(err)
	}
	return last
}

// expectWeights waits up to within for every member to apply want.
func (f *fleet) expectWeights(t *testing.T, want map[string]float64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var bad []string
		for i, m := range f.members {
			if m.down {
				continue
			}
			for route, w := range want {
				if got, err := f.weight(i, route); err != nil || got != w {
					bad = append(bad, fmt.Sprintf("ficus %d %s=%v (%v), want %v", i, route, got, err, w))
				}
			}
		}
		if len(bad) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("weights differ: %s", strings.Join(bad, "; "))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// leaseHolder is the member holding route's rollout lease, as member 0 sees it.
func (f *fleet) leaseHolder(t *testing.T, route string) string {
	t.Helper()
	states := f.rolloutRetry(t, 0)
	for _, s := range states {
		if s.Name == route {
			return s.Lease
		}
	}
	t.Fatalf("route %s not in GET /api/rollout", route)
	return ""
}

// metrics returns member i's /metrics text.
func (f *fleet) metrics(t *testing.T, i int) string {
	t.Helper()
	text, err := f.admin(i).Metrics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// rolloutRetry is member i's GET /api/rollout, retried for up to 15 s: an
// answer of 503 is expected while NATS elects a new leader for the bucket
// after a node loss.
func (f *fleet) rolloutRetry(t *testing.T, i int) []rollout.StateView {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		states, err := f.admin(i).Rollout(t.Context())
		if err == nil {
			return states
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
}
