package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/admin/api"
	"github.com/ficus-migrate/ficus/internal/testenv"
)

// steadyLoad sends requests through every member until stop is closed, and polls
// every member's /readyz; it counts what failed.
type steadyLoad struct {
	requests, failed, readyChecks, notReady atomic.Int64
	firstErr                                atomic.Value
	stop                                    chan struct{}
	wg                                      sync.WaitGroup
}

func startSteadyLoad(f *fleet, path string) *steadyLoad {
	l := &steadyLoad{stop: make(chan struct{})}
	web := &http.Client{Timeout: 5 * time.Second}
	for i := range f.members {
		l.wg.Add(2)
		go func() { // traffic: 4 clients' worth, one request every 10 ms
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
				l.requests.Add(1)
				resp, err := web.Get("http://" + f.members[i].proxy + path)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					l.failed.Add(1)
					l.firstErr.CompareAndSwap(nil, fmt.Sprintf("ficus %d: %v", i, err))
				}
			}
		}()
		go func() { // readiness as kubelet probes it: no token
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				l.readyChecks.Add(1)
				resp, err := web.Get("http://" + f.members[i].admin + "/readyz")
				if err == nil {
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != http.StatusOK {
					l.notReady.Add(1)
				}
			}
		}()
	}
	return l
}

func (l *steadyLoad) end() {
	close(l.stop)
	l.wg.Wait()
}

const outageRoutes = `
    - name: orders-read
      match: {path_prefix: /api/orders}
      new: %s
      weight: 50
      shadow: {enabled: true, timeout: 1s}
`

// outage is how long NATS stays down: the 30 s, longer than every
// timeout on the way (publish 5 s, reconnect backoff, the admin API's 5 s,
// the lease TTL). The two tests that wait it out run in parallel.
const outage = 30 * time.Second

// The bus is never in the request path: two sidecars on one nats-server,
// a route at 50 % with shadow on, steady traffic; nats-server is killed
// and started again. No client request fails, /readyz stays 200, the
// components say NATS was degraded and recovered, admin writes answer 503
// during the outage, a weight change after recovery reaches both sidecars
// within 1 s, and the shadow records lost to the outage are counted.
func TestNATSOutageKeepsServing(t *testing.T) {
	// It mostly waits out the outage.
	t.Parallel()
	legacy, newSvc := backend("legacy"), backend("new") // bodies differ: every shadowed request is a mismatch
	defer legacy.Close()
	defer newSvc.Close()
	n := startNATSServer(t)
	f := startFleet(t, 2, n.url, legacy.URL, fmt.Sprintf(outageRoutes, newSvc.URL))
	const path = "/api/orders/1"
	f.waitComponent("nats", "up", 5*time.Second)

	l := startSteadyLoad(f, path)
	time.Sleep(time.Second)
	n.kill()
	killed := time.Now()
	took := f.waitComponent("nats", "degraded", 5*time.Second)
	t.Logf("NATS killed: both sidecars report nats degraded within %v", took.Round(time.Millisecond))
	for i := range f.members {
		if st, err := f.component(i, "shadow.record"); err != nil || st != "degraded" {
			t.Errorf("ficus %d: shadow.record is %q (%v) during the outage, want degraded", i, st, err)
		}
		began := time.Now()
		code, body, err := f.putWeight(i, "orders-read", 100)
		if err != nil || code != http.StatusServiceUnavailable || !strings.Contains(body, "NATS unreachable") {
			t.Errorf("ficus %d: PUT during the outage = %d %s (%v), want 503 naming NATS", i, code, body, err)
		}
		if d := time.Since(began); d > 6*time.Second {
			t.Errorf("ficus %d: PUT during the outage took %v", i, d)
		}
	}
	time.Sleep(time.Until(killed.Add(outage)))
	n.start()
	took = f.waitComponent("nats", "up", 30*time.Second)
	t.Logf("NATS started again after %v down: both sidecars report nats up %v later", outage, took.Round(time.Millisecond))
	f.waitComponent("routestate", "up", 5*time.Second)
	time.Sleep(time.Second) // traffic after the recovery too
	l.end()

	t.Logf("traffic: %d requests, %d failed; /readyz: %d probes, %d not 200", l.requests.Load(), l.failed.Load(), l.readyChecks.Load(), l.notReady.Load())
	if l.failed.Load() != 0 {
		t.Errorf("%d client requests failed (first: %v)", l.failed.Load(), l.firstErr.Load())
	}
	if l.notReady.Load() != 0 {
		t.Errorf("/readyz was not 200 in %d of %d probes", l.notReady.Load(), l.readyChecks.Load())
	}

	lost := 0.0
	for i := range f.members {
		d := f.metric(i, `ficus_shadow_records_total{result="dropped"}`)
		fl := f.metric(i, `ficus_shadow_records_total{result="failed"}`)
		w := f.metric(i, `ficus_shadow_records_total{result="written"}`)
		t.Logf("ficus %d: shadow records written %v, dropped %v, failed %v", i, w, d, fl)
		lost += d + fl
	}
	if lost == 0 {
		t.Error("no shadow record counted as dropped or failed across an outage")
	}

	began := time.Now()
	if code, body, err := f.putWeight(0, "orders-read", 100); err != nil || code != http.StatusOK {
		t.Fatalf("PUT after recovery = %d %s (%v)", code, body, err)
	}
	lag := f.waitAllServedBy(path, "new", 3*time.Second)
	t.Logf("weight change after recovery reached both sidecars after %v", lag.Sub(began).Round(time.Millisecond))
	if d := lag.Sub(began); d > time.Second {
		t.Errorf("weight change after recovery took %v to reach both sidecars, want within 1 s", d)
	}
}

// A route rolled out to 100 through the bucket while the file says 0; NATS
// stops and one sidecar restarts: it serves new at 100 from its local
// state, and nothing changes once NATS is back.
func TestRestartDuringNATSOutageServesLastKnownState(t *testing.T) {
	t.Parallel()
	legacy, newSvc := backend("legacy"), backend("new")
	defer legacy.Close()
	defer newSvc.Close()
	n := startNATSServer(t)
	f := startFleet(t, 2, n.url, legacy.URL, fmt.Sprintf(sharedRoutes, newSvc.URL))
	const path = "/api/orders/1"
	if _, err := f.routesCmd(0, "set", "orders-read", "--weight", "100"); err != nil {
		t.Fatal(err)
	}
	f.waitAllServedBy(path, "new", 3*time.Second)

	n.kill()
	f.waitComponent("nats", "degraded", 5*time.Second)
	f.stop(1, syscall.SIGTERM)
	f.start(1)
	f.waitReady(1)
	check := func(when string) {
		t.Helper()
		for range 20 {
			if side, err := f.servedBy(1, path); err != nil || side != "new" {
				t.Fatalf("%s: restarted sidecar served by %q (%v), want new", when, side, err)
			}
		}
		if w, err := f.weight(1, "orders-read"); err != nil || w != 100 {
			t.Fatalf("%s: restarted sidecar's weight %v (%v), want 100", when, w, err)
		}
	}
	check("NATS down")
	if !strings.Contains(f.members[1].logs.String(), "last-known state") {
		t.Error("the restarted sidecar does not log that it serves its last-known state")
	}

	n.start()
	f.waitComponent("routestate", "up", 30*time.Second)
	check("NATS back")
}

// The same outage on a 3-node NATS cluster that loses one node (the one
// leading the route bucket, the worst one): the request path does not
// notice, the sidecars stay healthy, and a weight change made while the
// node is down reaches both within 1 s.
func TestNATSClusterNodeLossDegradesNothing(t *testing.T) {
	// It mostly waits out the outage.
	t.Parallel()
	legacy, newSvc := backend("legacy"), backend("new")
	defer legacy.Close()
	defer newSvc.Close()
	c := testenv.MustStartNATSCluster(t, 3)
	f := startFleet(t, 2, c.URLs, legacy.URL, fmt.Sprintf(outageRoutes, newSvc.URL))
	const path = "/api/orders/1"
	f.waitComponent("routestate", "up", 10*time.Second)

	l := startSteadyLoad(f, path)
	var samples, degraded atomic.Int64
	var firstDegraded atomic.Value
	stopWatch := make(chan struct{})
	watched := make(chan struct{})
	go func() { // every member's /api/health, 10 times a second
		defer close(watched)
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(100 * time.Millisecond):
			}
			for i := range f.members {
				h, err := f.admin(i).Health(f.t.Context())
				if err != nil {
					continue
				}
				samples.Add(1)
				if h.Status != api.StatusOK {
					degraded.Add(1)
					firstDegraded.CompareAndSwap(nil, fmt.Sprintf("ficus %d: %+v", i, h.Components))
				}
			}
		}
	}()
	time.Sleep(time.Second)

	js, err := jetstream.New(c.Connect(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, "KV_ficus_routes")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil || info.Cluster == nil {
		t.Fatalf("bucket stream info: %v", err)
	}
	for i := range 3 {
		if info.Cluster.Leader == testenv.NATSClusterNodeName(i) {
			c.Kill(t, i)
		}
	}
	time.Sleep(outage / 2)
	// A write needs the bucket's stream leader: while the two remaining
	// nodes elect one (a few seconds) the admin API answers 503 with the
	// reason, so the write is retried; the 1 s is counted from the write.
	var began time.Time
	for deadline := time.Now().Add(15 * time.Second); ; {
		began = time.Now()
		code, body, err := f.putWeight(0, "orders-read", 100)
		if err == nil && code == http.StatusOK {
			break
		}
		if err != nil || code != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("PUT with one node down = %d %s (%v)", code, body, err)
		}
		t.Logf("PUT while the bucket elects a leader: %d %s", code, strings.TrimSpace(body))
		time.Sleep(500 * time.Millisecond)
	}
	lag := f.waitAllServedBy(path, "new", 3*time.Second)
	t.Logf("weight change with one node down reached both sidecars after %v", lag.Sub(began).Round(time.Millisecond))
	if d := lag.Sub(began); d > time.Second {
		t.Errorf("weight change took %v to reach both sidecars, want within 1 s", d)
	}
	time.Sleep(outage / 2)
	close(stopWatch)
	<-watched
	l.end()

	t.Logf("traffic: %d requests, %d failed; /readyz: %d probes, %d not 200; /api/health: %d samples, %d not ok",
		l.requests.Load(), l.failed.Load(), l.readyChecks.Load(), l.notReady.Load(), samples.Load(), degraded.Load())
	if l.failed.Load() != 0 {
		t.Errorf("%d client requests failed (first: %v)", l.failed.Load(), l.firstErr.Load())
	}
	if l.notReady.Load() != 0 {
		t.Errorf("/readyz was not 200 in %d probes", l.notReady.Load())
	}
	if degraded.Load() != 0 {
		t.Errorf("health not ok in %d of %d samples (first: %v)", degraded.Load(), samples.Load(), firstDegraded.Load())
	}
	for i := range f.members {
		if d := f.metric(i, `ficus_shadow_records_total{result="dropped"}`); d != 0 {
			t.Errorf("ficus %d dropped %v shadow records with one node of three down", i, d)
		}
	}
}
