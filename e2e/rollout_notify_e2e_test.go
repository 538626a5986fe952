package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/proxy/rollout"
)

// notifyRoute has three webhooks: json and slack on a receiver that is up,
// and json on one that refuses connections for the first 10 s. The paths
// hold "s3cret": webhook URLs are secrets and must not reach any log.
const notifyRoute = `
    - name: notified
      match: {path_prefix: /notified}
      new: %[1]s
      rollout:
        steps: [10, 50, 100]
        interval: 2s
        min_requests: 10
        max_p99_ratio: 1000
        notify:
          - {url: "%[2]s/hooks/s3cret-json", format: json}
          - {url: "http://%[3]s/hooks/s3cret-late", format: json}
          - {url: "%[2]s/slack/s3cret-slack", format: slack}
`

// hooks is a webhook receiver recording what it got, by path, and when.
type hooks struct {
	mu   sync.Mutex
	got  map[string][]string
	when map[string][]time.Time
}

func newHooks() *hooks { return &hooks{got: map[string][]string{}, when: map[string][]time.Time{}} }

func (h *hooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.got[r.URL.Path] = append(h.got[r.URL.Path], string(b))
	h.when[r.URL.Path] = append(h.when[r.URL.Path], time.Now())
	h.mu.Unlock()
}

func (h *hooks) of(path string) ([]string, []time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.got[path]...), append([]time.Time(nil), h.when[path]...)
}

// Every decision (the controller's and an operator's) reaches each webhook
// exactly once across a fleet of two, in order; a webhook that is down for
// 10 s gets them all once it is back (each process's in order), and
// meanwhile the controller decides on time.
func TestRolloutNotify(t *testing.T) {
	t.Parallel()
	n := testenv.MustStartNATS(t)
	nc := n.Connect(t)
	var pubMu sync.Mutex
	var published []string // the events as published on ficus.rollout.notified
	if _, err := nc.Subscribe(rollout.SubjectPrefix+"notified", func(m *nats.Msg) {
		pubMu.Lock()
		published = append(published, string(m.Data))
		pubMu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	svc := newServices()
	defer svc.close()
	up := newHooks()
	upSrv := httptest.NewServer(up)
	defer upSrv.Close()
	lateAddr := freeAddr(t) // nothing listens: connection refused
	ev := subscribeEvents(t, nc)

	began := time.Now()
	f := startFleet(t, 2, n.URL, svc.legacy.URL, fmt.Sprintf(notifyRoute, svc.new.URL, upSrv.URL, lateAddr))
	l := startLoad(f, []string{"notified"})
	defer l.close()

	// An operator's pause and resume, through the process that may not
	// hold the lease: it notifies what it did.
	ev.wait(t, "notified", 0, 15*time.Second, action(rollout.ActStart))
	if _, err := f.routesCmd(1, "pause", "notified"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.routesCmd(1, "resume", "notified"); err != nil {
		t.Fatal(err)
	}
	ev.wait(t, "notified", 0, 30*time.Second, action(rollout.ActComplete))

	// The late receiver comes up 10 s after the fleet started.
	time.Sleep(time.Until(began.Add(10 * time.Second)))
	late := newHooks()
	ln, err := net.Listen("tcp", lateAddr)
	if err != nil {
		t.Fatalf("cannot bring the late receiver up on %s: %v", lateAddr, err)
	}
	lateSrv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: late}}
	lateSrv.Start()
	defer lateSrv.Close()
	lateUp := time.Now()

	pubMu.Lock()
	want := append([]string(nil), published...)
	pubMu.Unlock()
	evs := ev.of("notified")
	if len(want) != len(evs) || len(want) < 5 {
		t.Fatalf("%d events published, %d decoded, want the same and at least 5 (start, pause, resume, promote, complete):%s",
			len(want), len(evs), describeEvents(evs))
	}

	// The receiver that was up: every decision once, in order, as published,
	// each within 2 s of the decision.
	got, when := waitHooks(t, up, "/hooks/s3cret-json", len(want), 5*time.Second)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("json hook: decision %d is\n%s\nwant\n%s", i, got[i], want[i])
		}
		if d := when[i].Sub(evs[i].At); d > 2*time.Second {
			t.Errorf("json hook got %s %v after the decision", evs[i].Action, d)
		}
	}
	// The controller did not wait for the receiver that was down: its
	// decisions came at the pace of the 2 s interval while it was down.
	down := 0
	for i, e := range evs {
		if e.At.Before(lateUp) {
			down++
		}
		if i > 0 && !e.Manual && e.At.Sub(evs[i-1].At) > 6*time.Second {
			t.Errorf("decision %s came %v after the one before: the controller was held up", e.Action, e.At.Sub(evs[i-1].At))
		}
	}
	if down < 3 {
		t.Errorf("only %d decisions while the late receiver was down, want at least 3:%s", down, describeEvents(evs))
	}

	// The slack hook: one readable line per decision.
	slack, _ := waitHooks(t, up, "/slack/s3cret-slack", len(want), 5*time.Second)
	for i, body := range slack {
		var msg struct{ Text string }
		if err := json.Unmarshal([]byte(body), &msg); err != nil {
			t.Fatalf("slack body %q: %v", body, err)
		}
		if prefix := "ficus rollout notified: " + evs[i].Action; !strings.HasPrefix(msg.Text, prefix) {
			t.Errorf("slack text %q, want it to start with %q", msg.Text, prefix)
		}
	}

	// The late receiver: everything, once, once it is up (the backoff is
	// at most 10 s between tries). Each process sends its own decisions in
	// order; the backlogs of two processes (the controller's, and the
	// operator's pause and resume) arrive interleaved as each one's retry
	// comes: the order across processes is the events' "at".
	gotLate, whenLate := waitHooks(t, late, "/hooks/s3cret-late", len(want), 20*time.Second)
	if perProcess(t, gotLate) != perProcess(t, want) {
		t.Errorf("late hook, by process:\n%s\nwant\n%s", perProcess(t, gotLate), perProcess(t, want))
	}
	t.Logf("late receiver: up %v after the fleet started, had all %d decisions %v later",
		lateUp.Sub(began).Round(time.Millisecond), len(want), whenLate[len(whenLate)-1].Sub(lateUp).Round(time.Millisecond))

	var metrics, logs string
	for i, m := range f.members {
		metrics += f.metrics(t, i)
		logs += m.logs.String()
	}
	late0 := fmt.Sprintf(`ficus_rollout_notifications_total{result="%%s",route="notified",target="http://%s/REDACTED"}`, lateAddr)
	if v := sumMetric(metrics, fmt.Sprintf(late0, "sent")); v != float64(len(want)) {
		t.Errorf("late hook sent = %v, want %d", v, len(want))
	}
	if v := sumMetric(metrics, fmt.Sprintf(late0, "retried")); v < 1 {
		t.Errorf("late hook retried = %v, want some", v)
	}
	if strings.Contains(logs, "s3cret") {
		t.Errorf("a webhook URL reached the log")
	}
	if !strings.Contains(logs, "notify target reachable again") {
		t.Errorf("the late receiver's recovery is not in the log")
	}
}

// perProcess lists the events of each deciding process, in the order
// given: equal for two lists holding the same events, each process's in
// the same order.
func perProcess(t *testing.T, bodies []string) string {
	t.Helper()
	by := map[string][]string{}
	var names []string
	for _, b := range bodies {
		var e rollout.Event
		if err := json.Unmarshal([]byte(b), &e); err != nil {
			t.Fatalf("undecodable event %q: %v", b, err)
		}
		if by[e.By] == nil {
			names = append(names, e.By)
		}
		by[e.By] = append(by[e.By], b)
	}
	sort.Strings(names)
	var out strings.Builder
	for _, n := range names {
		fmt.Fprintf(&out, "%s:\n  %s\n", n, strings.Join(by[n], "\n  "))
	}
	return out.String()
}

// waitHooks waits until h holds n bodies at path, and fails if it holds more.
func waitHooks(t *testing.T, h *hooks, path string, n int, within time.Duration) ([]string, []time.Time) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, when := h.of(path)
		if len(got) > n {
			t.Fatalf("%s got %d bodies, want %d (a decision twice?):\n%s", path, len(got), n, strings.Join(got, "\n"))
		}
		if len(got) == n {
			time.Sleep(300 * time.Millisecond) // a duplicate would arrive about now
			if again, _ := h.of(path); len(again) != n {
				t.Fatalf("%s got %d bodies, want %d (a decision twice?)", path, len(again), n)
			}
			return got, when
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s got %d bodies within %v, want %d", path, len(got), within, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sumMetric sums the samples of a Prometheus text whose series is exactly series.
func sumMetric(text, series string) float64 {
	sum := 0.0
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var x float64
			if _, err := fmt.Sscan(v, &x); err == nil {
				sum += x
			}
		}
	}
	return sum
}
