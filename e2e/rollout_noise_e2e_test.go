package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/proxy/rollout"
	"github.com/ficus-migrate/ficus/shadow/report"
)

// Issue #17: new differs from legacy in noise fields only (a random
// request_id, a generated_at timestamp), learnt with the default noise
// sampling while the rollout already runs. On "priced", new also changes
// the price of 2 % of its answers.
const noiseRoutes = `
    - name: noisy
      match: {path_prefix: /noisy}
      new: %[1]s
      shadow: {enabled: true}
      rollout: {steps: [10, 50, 100], interval: 2s, min_requests: 20, max_mismatch_rate: 0.01, max_p99_ratio: 1000}
    - name: priced
      match: {path_prefix: /priced}
      new: %[1]s
      shadow: {enabled: true}
      rollout: {steps: [10, 50, 100], interval: 2s, min_requests: 20, max_mismatch_rate: 0.01, max_p99_ratio: 1000}
`

// noiseAnswer is a catalogue answer whose request_id and generated_at
// differ between any two answers, legacy or new.
func noiseAnswer(w http.ResponseWriter, r *http.Request, price int) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, `{"request_id":"%016x","generated_at":%q,"item":%q,"price":%d}`,
		rand.Uint64(), time.Now().UTC().Format(time.RFC3339Nano), r.URL.Path, price)
}

func TestRolloutJudgesMismatchesLikeTheReport(t *testing.T) {
	t.Parallel()
	n := testenv.MustStartNATS(t)
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { noiseAnswer(w, r, 10) }))
	defer legacy.Close()
	var pricedAtNew atomic.Int64
	newSvc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		price := 10
		if strings.HasPrefix(r.URL.Path, "/priced") && pricedAtNew.Add(1)%50 == 0 { // 2 %
			price = 12
		}
		noiseAnswer(w, r, price)
	}))
	defer newSvc.Close()
	ev := subscribeEvents(t, n.Connect(t))
	began := time.Now()
	f := startFleet(t, 2, n.URL, legacy.URL, fmt.Sprintf(noiseRoutes, newSvc.URL))
	stopLoad := noiseLoad(f, "noisy", "priced")
	defer stopLoad()

	// Noise only: the rollout completes, and no decision saw a mismatch.
	done, _ := ev.wait(t, "noisy", 0, 40*time.Second, action(rollout.ActComplete))
	t.Logf("noisy: complete after %v:%s", done.At.Sub(began).Round(time.Millisecond), describeEvents(ev.of("noisy")))
	for _, e := range ev.of("noisy") {
		switch {
		case e.Action == rollout.ActRollback || e.Action == rollout.ActPause:
			t.Errorf("noisy: %s: %s", e.Action, e.Reason)
		case e.Figures == nil:
		case e.Figures.MismatchRate != 0 || e.Figures.Mismatched != 0:
			t.Errorf("noisy: %s with mismatch rate %v (%d of %d)", e.Action, e.Figures.MismatchRate, e.Figures.Mismatched, e.Figures.Compared)
		case !e.Figures.NoiseReady || e.Figures.Compared == 0:
			t.Errorf("noisy: %s on figures whose mismatches were not judged: %+v", e.Action, *e.Figures)
		}
	}

	// Real price differences on top: rolled back by the mismatch gate.
	back, _ := ev.wait(t, "priced", 0, 30*time.Second, action(rollout.ActRollback))
	t.Logf("priced: rolled back after %v: %s", back.At.Sub(began).Round(time.Millisecond), back.Reason)
	if !strings.Contains(back.Reason, "mismatch rate 0.0") || !strings.Contains(back.Reason, "max_mismatch_rate 0.01") {
		t.Errorf("priced: rollback reason %q does not name the mismatch rate", back.Reason)
	}
	// Judged on the price alone: counting the noise would make it about 1.
	if fig := back.Figures; fig == nil || !fig.NoiseReady || fig.MismatchRate <= 0.01 || fig.MismatchRate > 0.2 {
		t.Errorf("priced: rolled back on figures %+v, want a judged rate of a few %%", fig)
	}
	stopLoad()

	checkShadowFigures(t, f)
}

// noiseLoad sends requests to each route through every member in turn
// until the returned function is called (once or more).
func noiseLoad(f *fleet, routes ...string) func() {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second}
	for _, r := range routes {
		for g := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := g; ; i++ {
					select {
					case <-stop:
						return
					case <-time.After(10 * time.Millisecond):
					}
					resp, err := client.Get("http://" + f.members[i%len(f.members)].proxy + "/" + r + "/" + strconv.Itoa(i))
					if err == nil {
						_ = resp.Body.Close()
					}
				}
			}()
		}
	}
	var once sync.Once
	return func() { once.Do(func() { close(stop); wg.Wait() }) }
}

// checkShadowFigures: GET /api/shadow/{route} judges the early comparisons
// again (the at-the-time metric does not), and `ficus report` gives the
// same figures as the fleet's API.
func checkShadowFigures(t *testing.T, f *fleet) {
	t.Helper()
	// Each process publishes its tally every 5 s: the report agrees once
	// the last comparisons are in (the API is read again each time: the
	// last mirrored requests may still be compared).
	var rep report.Report
	var api map[string]shadowFigures
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		api = fleetShadowFigures(t, f, "noisy", "priced")
		var out, errOut strings.Builder
		if code := runFicus(t.Context(), t, &out, &errOut, "report", "-c", f.members[0].cfg, "--format", "json"); code != 0 {
			t.Fatalf("ficus report: exit %d: %s%s", code, out.String(), errOut.String())
		}
		rep = report.Report{}
		if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
			t.Fatalf("ficus report: %v: %s", err, out.String())
		}
		if sameFigures(rep, api) {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("ficus report: %s; GET /api/shadow: %+v", describeReport(rep), api)
			break
		}
	}
	atTheTime := 0.0
	for i := range f.members {
		atTheTime += f.metric(i, `ficus_shadow_mismatched_total{route="noisy"}`)
	}
	t.Logf("noisy: %d compared; %v mismatched as judged at the time, %d as judged now; priced: %d of %d mismatched",
		api["noisy"].Compared, atTheTime, api["noisy"].Mismatched, api["priced"].Mismatched, api["priced"].Compared)
	if api["noisy"].Compared == 0 || api["noisy"].Mismatched != 0 {
		t.Errorf("noisy: GET /api/shadow/noisy counts %d mismatched of %d, want none", api["noisy"].Mismatched, api["noisy"].Compared)
	}
	if atTheTime == 0 {
		t.Errorf("noisy: ficus_shadow_mismatched_total is 0: nothing was judged before the noise was known, the test proves nothing")
	}
	if p := api["priced"]; p.Mismatched == 0 || float64(p.Mismatched) > 0.1*float64(p.Compared) {
		t.Errorf("priced: GET /api/shadow/priced counts %d mismatched of %d, want the price differences alone", p.Mismatched, p.Compared)
	}
	for _, rr := range rep.Routes {
		if rr.Route == "noisy" && len(rr.Groups) != 0 {
			t.Errorf("ficus report: noisy still groups mismatches: %s", describeReport(rep))
		}
	}
}

// fleetShadowFigures sums GET /api/shadow/{route} over the fleet.
func fleetShadowFigures(t *testing.T, f *fleet, routes ...string) map[string]shadowFigures {
	t.Helper()
	api := map[string]shadowFigures{}
	for _, route := range routes {
		var sum shadowFigures
		for i := range f.members {
			st, err := f.admin(i).Shadow(t.Context(), route)
			if err != nil {
				t.Fatal(err)
			}
			if !st.NoiseReady {
				t.Errorf("ficus %d %s: noise detector not ready: %+v", i, route, st)
			}
			sum.Compared += st.Compared
			sum.Mismatched += st.Mismatched
		}
		api[route] = sum
	}
	return api
}

func describeReport(rep report.Report) string {
	var b strings.Builder
	for _, rr := range rep.Routes {
		fmt.Fprintf(&b, "\n  %s: %d of %d mismatched, noise %v, groups:", rr.Route, rr.Mismatched, rr.Compared, rr.NoisePaths)
		for _, g := range rr.Groups {
			fmt.Fprintf(&b, " %s×%d", g.Signature, g.Count)
		}
	}
	return b.String()
}

// shadowFigures are what GET /api/shadow/{route} and `ficus report` share.
type shadowFigures struct{ Compared, Mismatched uint64 }

func sameFigures(rep report.Report, api map[string]shadowFigures) bool {
	got := map[string]shadowFigures{}
	for _, rr := range rep.Routes {
		got[rr.Route] = shadowFigures{Compared: rr.Compared, Mismatched: uint64(rr.Mismatched)}
	}
	for route, want := range api {
		if got[route] != want {
			return false
		}
	}
	return true
}
