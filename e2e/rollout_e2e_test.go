package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/proxy/rollout"
)

// Each route is one scenario; they run side by side in one fleet to keep
// the test short. Intervals are seconds instead of minutes.
const rolloutRoutes = `
    - name: healthy
      match: {path_prefix: /healthy}
      new: %[1]s
      shadow: {enabled: true}
      rollout: {steps: [10, 50, 100], interval: 2s, min_requests: 20, max_p99_ratio: 50}
    - name: diff
      match: {path_prefix: /diff}
      new: %[1]s
      shadow: {enabled: true}
      rollout: {steps: [10, 50, 100], interval: 2s, min_requests: 20, max_p99_ratio: 1000}
    - name: errs
      match: {path_prefix: /errs}
      new: %[1]s
      rollout: {steps: [10, 50, 100], interval: 2s, min_requests: 20, max_p99_ratio: 1000}
    - name: slow
      match: {path_prefix: /slow}
      new: %[1]s
      rollout: {steps: [20, 50, 100], interval: 2s, min_requests: 20, max_p99_ratio: 5}
    - name: paused
      match: {path_prefix: /paused}
      new: %[1]s
      rollout: {steps: [10, 50, 100], interval: 2s, min_requests: 10, max_p99_ratio: 1000, on_failure: pause}
    - name: handoff
      match: {path_prefix: /handoff}
      new: %[1]s
      rollout: {steps: [5, 10, 20, 40, 70, 100], interval: 2s, min_requests: 10, max_p99_ratio: 1000}
    - name: steady
      match: {path_prefix: /steady}
      new: %[1]s
      rollout: {steps: [10, 50, 100], interval: 1h, min_requests: 10, max_p99_ratio: 1000}
`

var rolloutScenarios = []string{"healthy", "diff", "errs", "slow", "paused", "handoff", "steady"}

// services are the legacy and new sides; they answer identically until a
// scenario's new side is switched to misbehave.
type services struct {
	legacy, new *httptest.Server
	bad         sync.Map // scenario -> *atomic.Int64 counting its requests once new misbehaves
}

func newServices() *services {
	s := &services{}
	answer := func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"path":%q,"n":%d}`, r.URL.Path, n)
	}
	s.legacy = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { answer(w, r, 1) }))
	s.new = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scenario, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		if n, bad := s.bad.Load(scenario); bad {
			every20 := n.(*atomic.Int64).Add(1)%20 == 0
			switch {
			case scenario == "diff" && every20: // 5 % of answers differ
				answer(w, r, 2)
				return
			case scenario == "errs" && every20: // 5 % are 5xx
				http.Error(w, "boom", http.StatusInternalServerError)
				return
			case scenario == "slow":
				time.Sleep(500 * time.Millisecond)
			}
		}
		answer(w, r, 1)
	}))
	return s
}

func (s *services) close() { s.legacy.Close(); s.new.Close() }

// load sends requests to every scenario through every live member.
type load struct {
	f      *fleet
	stop   chan struct{}
	wg     sync.WaitGroup
	paused atomic.Bool
	dead   sync.Map // member index -> killed
	// held scenarios get no traffic until released: the handoff route
	// must still be mid-rollout when its lease holder is killed, however
	// long the scenarios before take on a loaded machine.
	held    sync.Map // scenario -> true
	counter atomic.Int64
}

func startLoad(f *fleet, scenarios []string, held ...string) *load {
	l := &load{f: f, stop: make(chan struct{})}
	for _, sc := range held {
		l.held.Store(sc, true)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for _, sc := range scenarios {
		workers := 3
		if sc == "slow" {
			workers = 16 // slow answers must not starve the route of requests
		}
		for g := 0; g < workers; g++ {
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				for i := g; ; i++ {
					select {
					case <-l.stop:
						return
					case <-time.After(15 * time.Millisecond):
					}
					m := i % len(f.members)
					if _, dead := l.dead.Load(m); dead || l.paused.Load() {
						continue
					}
					if _, held := l.held.Load(sc); held {
						continue
					}
					resp, err := client.Get("http://" + f.members[m].proxy + "/" + sc + "/" + strconv.Itoa(i))
					if err == nil {
						resp.Body.Close()
						l.counter.Add(1)
					}
				}
			}()
		}
	}
	return l
}

func (l *load) close() { close(l.stop); l.wg.Wait() }

// events collects every rollout decision published on ficus.rollout.>,
// through one connection per NATS node so that none is missed while a node
// is down.
type events struct {
	mu   sync.Mutex
	all  []rollout.Event
	seen map[string]bool
}

func subscribeEvents(t *testing.T, conns ...*nats.Conn) *events {
	e := &events{seen: map[string]bool{}}
	for _, nc := range conns {
		e.subscribe(t, nc)
	}
	return e
}

func (e *events) subscribe(t *testing.T, nc *nats.Conn) {
	if _, err := nc.Subscribe(rollout.SubjectPrefix+">", func(m *nats.Msg) {
		var ev rollout.Event
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Errorf("undecodable event on %s: %v", m.Subject, err)
			return
		}
		if m.Subject != rollout.SubjectPrefix+ev.Route {
			t.Errorf("event for %s on subject %s", ev.Route, m.Subject)
		}
		key := fmt.Sprintf("%s|%s|%d|%s", ev.Route, ev.Action, ev.Step, ev.At.Format(time.RFC3339Nano))
		e.mu.Lock()
		if !e.seen[key] {
			e.seen[key] = true
			e.all = append(e.all, ev)
		}
		e.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

func (e *events) of(route string) []rollout.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []rollout.Event
	for _, ev := range e.all {
		if ev.Route == route {
			out = append(out, ev)
		}
	}
	return out
}

// wait returns the first event of route (from index `from` on) that
// matches, failing the test after within.
func (e *events) wait(t *testing.T, route string, from int, within time.Duration, match func(rollout.Event) bool) (rollout.Event, int) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		evs := e.of(route)
		for i := from; i < len(evs); i++ {
			if match(evs[i]) {
				return evs[i], i
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("route %s: no matching event within %v; events: %s", route, within, describeEvents(evs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func describeEvents(evs []rollout.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "\n  %s %v->%v step %d %s by %s: %s", ev.Action, ev.From, ev.To, ev.Step, ev.Phase, ev.By, ev.Reason)
	}
	return b.String()
}

func action(a string) func(rollout.Event) bool {
	return func(ev rollout.Event) bool { return ev.Action == a }
}

func toWeight(a string, w float64) func(rollout.Event) bool {
	return func(ev rollout.Event) bool { return ev.Action == a && ev.To == w }
}

// The controller in a fleet of three real ficus processes against one NATS.
func TestRolloutFleet(t *testing.T) {
	t.Parallel()
	n := testenv.MustStartNATS(t)
	runRolloutScenarios(t, n.URL, []*nats.Conn{n.Connect(t)}, nil)
}

// runRolloutScenarios drives every scenario; right after it killed the
// handoff route's lease holder it calls disrupt, e.g. to kill a NATS node.
func runRolloutScenarios(t *testing.T, natsURL string, conns []*nats.Conn, disrupt func()) {
	svc := newServices()
	defer svc.close()
	ev := subscribeEvents(t, conns...)
	began := time.Now()
	f := startFleet(t, 3, natsURL, svc.legacy.URL, fmt.Sprintf(rolloutRoutes, svc.new.URL))
	t.Logf("fleet of 3 ready after %v", time.Since(began).Round(time.Millisecond))
	l := startLoad(f, rolloutScenarios, "handoff")
	defer l.close()

	// A manual pause holds the route until resume.
	ev.wait(t, "paused", 0, 10*time.Second, action(rollout.ActStart))
	if _, err := f.routesCmd(0, "pause", "paused"); err != nil {
		t.Fatal(err)
	}
	_, pausedAt := ev.wait(t, "paused", 0, 5*time.Second, action(rollout.ActPause))
	pausedAt++ // nothing may follow the operator's pause until resume

	// The gate scenarios: healthy until the second step, then misbehaving.
	var wentBad sync.Map
	for _, sc := range []string{"diff", "errs", "slow"} {
		go func() {
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				for _, e := range ev.of(sc) {
					if e.Action == rollout.ActPromote && e.To == 50 {
						svc.bad.Store(sc, new(atomic.Int64))
						wentBad.Store(sc, time.Now())
						return
					}
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	for _, sc := range []string{"diff", "errs", "slow"} {
		_, i := ev.wait(t, sc, 0, 30*time.Second, toWeight(rollout.ActPromote, 50))
		next, _ := ev.wait(t, sc, i+1, 15*time.Second, func(rollout.Event) bool { return true })
		if next.Action != rollout.ActRollback || next.To != 0 || next.Figures == nil {
			t.Fatalf("%s: after the new side went bad the next decision was %s to %v, want a rollback to 0 with figures%s",
				sc, next.Action, next.To, describeEvents(ev.of(sc)))
		}
		at, _ := wentBad.Load(sc)
		lag := next.At.Sub(at.(time.Time))
		t.Logf("%s: rolled back %v after new went bad, new served %d requests at the step: %s",
			sc, lag.Round(time.Millisecond), next.Figures.NewRequests, next.Reason)
		// The judge runs every second on counters published every second:
		// the first evaluation that has min_requests decides.
		if lag > 5*time.Second {
			t.Errorf("%s: rollback took %v, want it within one evaluation (a few seconds)", sc, lag)
		}
		wantGate := map[string]string{"diff": "mismatch rate", "errs": "5xx rate", "slow": "p99"}[sc]
		if !strings.Contains(next.Reason, wantGate) {
			t.Errorf("%s: rollback reason %q does not name the %s gate", sc, next.Reason, wantGate)
		}
	}
	done, _ := ev.wait(t, "healthy", 0, 30*time.Second, action(rollout.ActComplete))
	t.Logf("healthy: complete after %v; events:%s", done.At.Sub(began).Round(time.Millisecond), describeEvents(ev.of("healthy")))
	f.expectWeights(t, map[string]float64{"healthy": 100, "diff": 0, "errs": 0, "slow": 0, "paused": 10}, 2*time.Second)
	var metrics string
	for i := range f.members {
		metrics += f.metrics(t, i)
	}
	if !strings.Contains(metrics, `ficus_rollout_decisions_total{action="complete",route="healthy"} 1`) ||
		!strings.Contains(metrics, `ficus_rollout_lease_held{route="healthy"} 1`) {
		t.Errorf("no process's /metrics shows the healthy route's completion and lease")
	}
	if evs := ev.of("paused"); len(evs) != pausedAt {
		t.Fatalf("paused route: decisions after a manual pause:%s", describeEvents(evs[pausedAt:]))
	}
	if _, err := f.routesCmd(2, "resume", "paused"); err != nil {
		t.Fatal(err)
	}
	ev.wait(t, "paused", pausedAt, 10*time.Second, toWeight(rollout.ActPromote, 50))

	checkOperatorActions(t, f, ev)
	checkHandoff(t, f, l, ev, disrupt)
	checkRestart(t, f, l)
	if !strings.Contains(f.members[0].logs.String()+f.members[1].logs.String()+f.members[2].logs.String(), "rollout decision") {
		t.Error("no process logged a rollout decision")
	}
	t.Logf("scenarios took %v, %d requests", time.Since(began).Round(time.Millisecond), l.counter.Load())
}

// checkOperatorActions drives the steady route (whose interval never
// passes) by hand through `ficus routes`, each command through another process.
func checkOperatorActions(t *testing.T, f *fleet, ev *events) {
	t.Helper()
	steps := []struct {
		member int
		args   []string
		weight float64
		out    string
	}{
		{0, []string{"promote", "steady"}, 50, "steady: rolling 2/3 (manual), weight 50"},
		{1, []string{"rollback", "steady"}, 0, "steady: rolled_back (manual), weight 0"},
		{2, []string{"set", "steady", "--weight", "30"}, 30, "steady: weight 30"},
		{0, []string{"resume", "steady"}, 30, "steady: rolling 1/3, weight 30"}, // between steps 1 and 2
	}
	for _, s := range steps {
		out, err := f.routesCmd(s.member, s.args...)
		if err != nil || !strings.Contains(out, s.out) {
			t.Fatalf("ficus routes %s: %q (%v), want %q", strings.Join(s.args, " "), out, err, s.out)
		}
		f.expectWeights(t, map[string]float64{"steady": s.weight}, time.Second)
	}
	out, err := f.routesCmd(1, "list")
	if err != nil || !strings.Contains(out, "ROLLOUT") || !strings.Contains(out, "rolling 1/3") || !strings.Contains(out, "rolled_back") {
		t.Fatalf("ficus routes list:\n%s (%v)", out, err)
	}
	if _, err := f.routesCmd(1, "promote", "nosuch"); err == nil {
		t.Fatal("promoting an unknown route succeeded")
	}
	for _, a := range []string{rollout.ActPromote, rollout.ActRollback, rollout.ActSet, rollout.ActResume} {
		ev.wait(t, "steady", 0, 5*time.Second, func(e rollout.Event) bool { return e.Action == a && e.Figures == nil })
	}
}

// checkHandoff kills the lease holder of the handoff route with SIGKILL
// mid-rollout: another process takes over and no step is taken twice.
func checkHandoff(t *testing.T, f *fleet, l *load, ev *events, disrupt func()) {
	t.Helper()
	l.held.Delete("handoff")
	ev.wait(t, "handoff", 0, 30*time.Second, toWeight(rollout.ActPromote, 20))
	holder := f.leaseHolder(t, "handoff")
	victim := -1
	for i := range f.members {
		if strings.Contains(holder, "-"+strconv.Itoa(f.pid(i))+"-") {
			victim = i
		}
	}
	if victim < 0 {
		t.Fatalf("lease holder %q is none of the fleet's processes", holder)
	}
	l.dead.Store(victim, true)
	killedAt := time.Now()
	f.stop(victim, syscall.SIGKILL)
	if disrupt != nil {
		disrupt()
	}
	next, _ := ev.wait(t, "handoff", 0, 30*time.Second, func(e rollout.Event) bool { return e.At.After(killedAt) })
	t.Logf("handoff: holder %s killed; next decision %v later by %s", holder, next.At.Sub(killedAt).Round(time.Millisecond), next.By)
	ev.wait(t, "handoff", 0, 60*time.Second, action(rollout.ActComplete))
	evs := ev.of("handoff")
	for i, e := range evs {
		if e.Step != i || (i > 0 && e.From != evs[i-1].To) {
			t.Fatalf("handoff: steps not taken once each, in order:%s", describeEvents(evs))
		}
	}
	if next.By == holder {
		t.Fatalf("the killed holder %s decided after its death", holder)
	}
}

// checkRestart stops and starts every process with traffic paused:
// every weight, mid-rollout ones included, is the same afterwards.
func checkRestart(t *testing.T, f *fleet, l *load) {
	t.Helper()
	l.paused.Store(true)
	time.Sleep(100 * time.Millisecond)
	live := 0
	for f.members[live].down {
		live++
	}
	states := f.rolloutRetry(t, live)
	before := map[string]float64{}
	for _, st := range states {
		before[st.Name] = st.Weight
	}
	// After a NATS node loss a process may lag until its bucket watch is
	// re-established or its 2-second re-read; wait until all apply the bucket.
	f.expectWeights(t, before, 5*time.Second)
	if before["steady"] != 30 {
		t.Fatalf("steady route at %v before the restart, want the 30 an operator set", before["steady"])
	}
	for i := range f.members {
		f.stop(i, syscall.SIGTERM)
	}
	for i := range f.members {
		f.start(i) // the process killed in checkHandoff too
	}
	for i := range f.members {
		f.waitReady(i)
	}
	f.expectWeights(t, before, 0)
	l.dead.Clear()
	l.paused.Store(false)
}
