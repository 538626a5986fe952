package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/admin/client"
	"github.com/ficus-migrate/ficus/internal/admin/dashboard"
	"github.com/ficus-migrate/ficus/internal/testenv"
)

const standbyToken = "standby-admin-t0ken"

// standbyPair is two `ficus capture` processes with the same source config,
// each on its own admin address; a killed one is restarted on its address.
type standbyPair struct {
	t     *testing.T
	bin   string
	logs  *testenv.LogBuffer
	cfg   [2]string
	addr  [2]string
	procs [2]*ficusProc
}

func newStandbyPair(t *testing.T, capture string) *standbyPair {
	p := &standbyPair{t: t, bin: buildFicus(t), logs: &testenv.LogBuffer{}}
	for i := range p.cfg {
		p.addr[i] = freeAddr(t)
		p.cfg[i] = writeConfig(t, fmt.Sprintf("admin: {listen: %q, token: %q}\n%s", p.addr[i], standbyToken, capture))
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ficus logs (tail):\n%s", tail(p.logs.String(), 30000))
		}
	})
	return p
}

func (p *standbyPair) start(i int) {
	p.procs[i] = startFicus(p.t, p.bin, p.logs, "capture", "-c", p.cfg[i])
}

// state is GET /api/capture/shop of process i; ok is false while it does
// not answer (starting, or killed).
func (p *standbyPair) state(i int) (dashboard.SourceStatus, bool) {
	var st dashboard.SourceStatus
	api := client.New(client.Config{BaseURL: "http://" + p.addr[i], Token: standbyToken, Timeout: time.Second})
	err := api.Get(context.Background(), "/api/capture/shop", &st)
	return st, err == nil
}

// waitUntil polls cond every 50ms; the bound only proves the wait ends.
func (p *standbyPair) waitUntil(what string, cond func() bool) time.Time {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Now()
}

// oneActive waits until both processes answer, one streams and the other
// has read the lease naming it (a process just started answers before its
// first look at the lease); at no point may both say active. It returns the
// active one.
func (p *standbyPair) oneActive() int {
	p.t.Helper()
	active := -1
	p.waitUntil("both processes answer, one streams and the other knows it", func() bool {
		var sts [2]dashboard.SourceStatus
		var ok [2]bool
		sts[0], ok[0] = p.state(0)
		sts[1], ok[1] = p.state(1)
		if ok[0] && ok[1] && sts[0].Active && sts[1].Active {
			p.t.Fatalf("both processes say active: %+v / %+v", sts[0], sts[1])
		}
		for i := range sts {
			// The active one has started streaming once it has a
			// confirmed position (the slot's or checkpoint's, where it
			// resumed).
			a, s := sts[i], sts[1-i]
			if ok[0] && ok[1] && a.Active && a.ConfirmedPosition != "" && s.Holder == a.Instance && s.Instance != a.Instance {
				active = i
				return true
			}
		}
		return false
	})
	return active
}

// killAndTakeOver kills the active process with SIGKILL, measures how long
// the other takes to stream (active, with the confirmed position it resumed
// from), and restarts the killed one.
func (p *standbyPair) killAndTakeOver(active int) time.Duration {
	p.t.Helper()
	killed := time.Now()
	p.procs[active].kill()
	other := 1 - active
	took := p.waitUntil("the standby takes over", func() bool {
		st, ok := p.state(other)
		return ok && st.Active && st.ConfirmedPosition != ""
	}).Sub(killed)
	p.start(active)
	return took
}

// runStandby drives the scenario: two processes, the active one killed
// three times while write runs; write stops when its stop channel closes.
func runStandby(t *testing.T, p *standbyPair, rng *rand.Rand, write func(stop <-chan struct{}) workload) workload {
	p.start(0)
	p.waitUntil("the first process streams", func() bool {
		st, ok := p.state(0)
		return ok && st.Active && st.ConfirmedPosition != ""
	})
	p.start(1)
	active := p.oneActive()

	// The per-source path is behind the admin token like the rest of the API.
	var se *client.StatusError
	err := adminAPI(p.addr[1-active], "").Get(t.Context(), "/api/capture/shop", nil)
	if !errors.As(err, &se) || se.Code != http.StatusUnauthorized {
		t.Fatalf("GET /api/capture/shop without the token: %v, want 401", err)
	}
	// And behind the same Host check: a page of another site that got its
	// name resolved to 127.0.0.1 (DNS rebinding) reads nothing, token or not.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+p.addr[active]+"/api/capture/shop", nil)
	req.Host = "evil.example:" + portOf(p.addr[active])
	req.Header.Set("Authorization", "Bearer "+standbyToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("GET /api/capture/shop through a rebound name: %d, want 403", resp.StatusCode)
	}

	stop := make(chan struct{})
	done := make(chan workload, 1)
	go func() { done <- write(stop) }()
	for kill := 1; kill <= 3; kill++ {
		time.Sleep(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
		took := p.killAndTakeOver(active)
		t.Logf("kill %d: the standby took over %v after the active process was killed", kill, took.Round(time.Millisecond))
		// The lease TTL plus a tick plus the source's start: the issue's
		// bound, generous on purpose (a loaded machine).
		if took > 10*time.Second {
			t.Errorf("kill %d: takeover took %v, want at most 10s", kill, took)
		}
		active = p.oneActive()
	}
	time.Sleep(time.Second) // the last takeover streams under load too
	close(stop)
	return <-done
}

// paced lets a workload run until stop closes, one transaction every pace:
// a steady writer spread over the kills, not a burst before the first one.
func paced(stop <-chan struct{}, pace time.Duration, limit int) func(workload) bool {
	return func(w workload) bool {
		select {
		case <-stop:
			return false
		case <-time.After(pace):
			return w.items+w.ledger < limit
		}
	}
}

// checkNoStoredDuplicates: the stream itself holds each Nats-Msg-Id once.
// checkStream already tolerates identical replays and counts distinct ids;
// within the duplicate window, JetStream must have dropped every replay of
// a deposed or killed holder, so the stream holds exactly the committed
// changes.
func checkNoStoredDuplicates(ctx context.Context, t *testing.T, st jetstream.Stream, w workload) {
	t.Helper()
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(w.items + w.ledger); info.State.Msgs != want {
		t.Fatalf("the stream holds %d messages for %d committed changes: duplicates were stored", info.State.Msgs, want)
	}
}

// Hot standby on PostgreSQL: two `ficus capture` processes on one source,
// the active one killed -9 three times during a steady write workload (the
// killed one restarted each time, so two are always there). The issue's
// 100,000 changes are scaled down to a few thousand (about 60 per
// transaction, 150 ms apart, for as long as the kills take) to keep the test
// short; the kills and takeovers are what is under test. Asserted: each
// takeover ends within 10s (the default lease_ttl, 5s, and a tick), exactly
// one process says active, every committed change is in the stream exactly
// once by Nats-Msg-Id with per-key and per-table order kept and the final
// state equal to the tables, and the stream stores no duplicate at all.
func TestCaptureHotStandbyPostgres(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("crash test")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 19))
	pg := testenv.MustStartPostgres(t)
	ns := testenv.MustStartNATS(t)
	pg.Exec(t, `CREATE TABLE items (id int PRIMARY KEY, ver int NOT NULL, note text NOT NULL);
		ALTER TABLE items REPLICA IDENTITY FULL;
		CREATE TABLE ledger (id bigserial PRIMARY KEY, item int NOT NULL, amount numeric(12,2) NOT NULL)`)
	p := newStandbyPair(t, fmt.Sprintf(`
nats: {url: %q}
capture:
  sources:
    - name: shop
      type: postgres
      dsn: %q
      tables: [public.items, public.ledger]
`, ns.URL, pg.DSN()))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w := runStandby(t, p, rng, func(stop <-chan struct{}) workload {
		return runWorkloadWhile(ctx, t, pg.DSN(), rand.New(rand.NewPCG(seed, 23)), paced(stop, 150*time.Millisecond, 10_000))
	})
	t.Logf("workload committed %d item and %d ledger changes", w.items, w.ledger)
	if t.Failed() {
		return
	}
	js, _ := jetstream.New(ns.Connect(t))
	st := waitForMessages(ctx, t, js, "FICUS_CDC_SHOP", uint64(w.items+w.ledger))
	checkStream(ctx, t, st, pgRows(pg), w)
	checkNoStoredDuplicates(ctx, t, st, w)
}

// Hot standby on MariaDB: as TestCaptureHotStandbyPostgres, with a 3s lease
// (capture.standby.lease_ttl) to show the key and keep the test short.
func TestCaptureHotStandbyMariaDB(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("crash test")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 29))
	my := testenv.MustStartMariaDB(t)
	ns := testenv.MustStartNATS(t)
	my.Exec(t, `CREATE TABLE items (id int PRIMARY KEY, ver int NOT NULL, note varchar(200) NOT NULL)`)
	my.Exec(t, `CREATE TABLE ledger (id bigint AUTO_INCREMENT PRIMARY KEY, item int NOT NULL, amount decimal(12,2) NOT NULL)`)
	p := newStandbyPair(t, fmt.Sprintf(`
nats: {url: %q}
capture:
  standby: {lease_ttl: 3s}
  sources:
    - {name: shop, type: mysql, dsn: %q, server_id: 4343, tables: [ficus.items, ficus.ledger]}
`, ns.URL, my.DSN()))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	db := my.DB(t)
	w := runStandby(t, p, rng, func(stop <-chan struct{}) workload {
		return runMariaWorkloadWhile(ctx, t, db, rand.New(rand.NewPCG(seed, 31)), paced(stop, 150*time.Millisecond, 10_000))
	})
	t.Logf("workload committed %d item and %d ledger changes", w.items, w.ledger)
	if t.Failed() {
		return
	}
	js, _ := jetstream.New(ns.Connect(t))
	st := waitForMessages(ctx, t, js, "FICUS_CDC_SHOP", uint64(w.items+w.ledger))
	checkStream(ctx, t, st, mariaRows(db), w)
	checkNoStoredDuplicates(ctx, t, st, w)
}
