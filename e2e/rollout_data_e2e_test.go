package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/proxy/rollout"
)

const dataGateConfig = `
log: {level: info}
nats: {url: %q}
admin: {listen: %q}
data_dir: %q
capture:
  sources:
    - {name: shop, type: mysql, dsn: %q, server_id: 4301, tables: [ficus.good, ficus.bad, ficus.recon]}
    - {name: svc, type: postgres, dsn: %q, tables: [public.good, public.bad, public.recon]}
# max_lag is generous for the same reason as max_behind_seconds below: on a
# loaded machine one side's capture can trail the other's by seconds, and a
# key is reported missing once max_lag passes without its other side.
compare_data:
  - {name: good, legacy: {source: shop, table: ficus.good, key: [id]}, new: {source: svc, table: public.good, key: [id]}, columns: {amount: amount}, max_lag: 10s}
  - {name: bad, legacy: {source: shop, table: ficus.bad, key: [id]}, new: {source: svc, table: public.bad, key: [id]}, columns: {amount: amount}, max_lag: 10s}
  - {name: recon, legacy: {source: shop, table: ficus.recon, key: [id]}, new: {source: svc, table: public.recon, key: [id]}, columns: {amount: amount}, max_lag: 2s}
proxy:
  listen: %q
  legacy: %q
  routes:
    # max_behind_seconds is generous: a loaded CI machine must not fail a
    # healthy step (the gate's behind figure has its own unit test).
    - name: datagood
      match: {path_prefix: /datagood}
      new: %[7]q
      rollout:
        steps: [10, 50, 100]
        interval: 3s
        min_requests: 10
        max_p99_ratio: 1000
        gates: {data: [{compare: good, max_differ_rate: 0.001, max_missing_rate: 0, max_behind_seconds: 60}]}
    - name: databad
      match: {path_prefix: /databad}
      new: %[7]q
      rollout:
        steps: [10, 25, 50, 100]
        interval: 4s
        min_requests: 10
        max_p99_ratio: 1000
        gates: {data: [{compare: bad, max_differ_rate: 0.001, max_missing_rate: 0, max_behind_seconds: 60}]}
    - name: reconciled
      match: {path_prefix: /reconciled}
      new: %[7]q
      rollout: {steps: [50, 100], interval: 1s, min_requests: 10, max_p99_ratio: 1000, complete_when: {reconcile: recon, max_differences: 0}}
`

// Rollout gates on data, through the real binary: `ficus run` captures a
// MariaDB legacy and a PostgreSQL new database and compares them
// continuously while a writer writes every order to both.
//   - datagood: every row equal: each step's data gate passes (its figures
//     in the decision) and the rollout completes;
//   - databad: 1 % of the rows are written wrong on new: the data gate rolls
//     the route back, with the data figures in the reason;
//   - reconciled: complete_when reconciles a pair with one planted
//     difference: the route stays at its last step (phase rolling), the
//     reason — in the event and in `ficus routes list` — names the key;
//     once the row is fixed, the next run is clean and the rollout completes.
func TestRolloutDataGates(t *testing.T) {
	t.Parallel()
	var pg *testenv.Postgres
	var wg sync.WaitGroup
	wg.Go(func() { pg = testenv.MustStartPostgres(t) })
	my := testenv.MustStartMariaDB(t)
	wg.Wait()
	if pg == nil {
		t.FailNow()
	}
	for _, tbl := range []string{"good", "bad", "recon"} {
		my.Exec(t, "CREATE TABLE "+tbl+" (id BIGINT PRIMARY KEY, amount DECIMAL(12,2) NOT NULL)")
		pg.Exec(t, "CREATE TABLE "+tbl+" (id bigint PRIMARY KEY, amount numeric(12,2) NOT NULL)")
	}
	my.Exec(t, "INSERT INTO recon SELECT seq, seq * 1.25 FROM seq_1_to_1000")
	pg.Exec(t, "INSERT INTO recon SELECT s, s * 1.25 FROM generate_series(1, 1000) s")
	pg.Exec(t, "UPDATE recon SET amount = 0.01 WHERE id = 7")

	n := testenv.MustStartNATS(t)
	ev := subscribeEvents(t, n.Connect(t))
	svc := newServices()
	defer svc.close()
	adminAddr, proxyAddr := freeAddr(t), freeAddr(t)
	cfg := writeConfig(t, fmt.Sprintf(dataGateConfig, n.URL, adminAddr, t.TempDir(), my.DSN(), pg.DSN(), proxyAddr,
		svc.legacy.URL, svc.new.URL))
	logs := &testenv.LogBuffer{}
	proc := startFicus(t, buildFicus(t), logs, "run", "-c", cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ficus logs:\n%s", tail(logs.String(), 12000))
		}
	})
	waitAdminReady(t, adminAddr, "", proc.exited)

	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var bg sync.WaitGroup
	defer bg.Wait()
	defer stop()
	bg.Go(func() { writeOrders(ctx, t, my, pg) })
	for _, route := range []string{"datagood", "databad", "reconciled"} {
		bg.Go(func() { requestLoop(ctx, proxyAddr, route) })
	}

	// databad: rolled back by the data gate, the figures in the reason.
	rb, _ := ev.wait(t, "databad", 0, 90*time.Second, action(rollout.ActRollback))
	for _, want := range []string{"gate bad (data): fail", "differ rate", "> max_differ_rate 0.001", "compare_data bad over the step"} {
		if !strings.Contains(rb.Reason, want) {
			t.Errorf("databad rolled back with reason %q: want %q in it", rb.Reason, want)
		}
	}
	if g := gateOf(rb.Figures, "bad"); g == nil || g.Verdict != rollout.GateFail || g.Measures["differs"] < 1 || g.Value <= 0.001 {
		t.Errorf("databad's rollback figures: data gate %+v", g)
	}

	// datagood: every promotion judged on clean data figures; completes.
	ev.wait(t, "datagood", 0, 90*time.Second, action(rollout.ActComplete))
	promotions := 0
	for _, e := range ev.of("datagood") {
		if e.Action != rollout.ActPromote && e.Action != rollout.ActComplete {
			continue
		}
		promotions++
		g := gateOf(e.Figures, "good")
		if g == nil || g.Verdict != rollout.GatePass || g.Measures["settled"] < 1 || g.Measures["differ_rate"] != 0 ||
			g.Measures["missing_rate"] != 0 {
			t.Errorf("datagood %s to %v judged on data gate %+v", e.Action, e.To, g)
		}
	}
	if promotions != 2 {
		t.Errorf("datagood: %d promotions, want 2 (50, then 100):%s", promotions, describeEvents(ev.of("datagood")))
	}

	// reconciled: held at the last step by the planted difference.
	hold, _ := ev.wait(t, "reconciled", 0, 90*time.Second, func(e rollout.Event) bool {
		return e.Action == rollout.ActGate && strings.Contains(e.Reason, "reconcile recon found 1 differing key(s)")
	})
	if !strings.Contains(hold.Reason, "key 7 differs in amount→amount") || hold.To != 100 || hold.Phase != "rolling" {
		t.Errorf("the hold at the last step: %+v", hold)
	}
	if strings.Contains(hold.Reason, "0.01") || strings.Contains(hold.Reason, "8.75") {
		t.Errorf("the reason shows row values (they may be personal data): %q", hold.Reason)
	}
	var out strings.Builder
	if code := runFicus(t.Context(), t, &out, &out, "routes", "list", "-c", cfg); code != 0 ||
		!strings.Contains(out.String(), "reconcile recon") || !strings.Contains(out.String(), "key 7 differs") {
		t.Errorf("ficus routes list while held (exit %d):\n%s", code, out.String())
	}
	// The dashboard lists the gate's result beside the route.
	bctx := browser(t, findChromium(t))
	const cell = `tr[data-gate="reconciled/reconcile recon"] td[data-field="%s"]`
	if err := chromedp.Do(bctx, chromedp.Navigate("http://"+adminAddr+"/"),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(cell, "reason")))); err != nil {
		t.Fatalf("dashboard: no row for the complete_when check: %v", err)
	}
	// The page re-renders the table on every refresh: a node found a moment
	// ago may be gone ("No node with given id") and a cell may be read
	// between two renders, so read until the row shows the hold (the gate
	// holds meanwhile: the reconcile keeps finding key 7) or time is up.
	var verdict, reason string
	var err, err2 error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		verdict, err = chromedp.Run(bctx, chromedp.Text(chromedp.CSS(fmt.Sprintf(cell, "verdict"))))
		reason, err2 = chromedp.Run(bctx, chromedp.Text(chromedp.CSS(fmt.Sprintf(cell, "reason"))))
		if err == nil && err2 == nil && verdict == "hold" && strings.Contains(reason, "key 7 differs in amount→amount") {
			break
		}
	}
	if err != nil || err2 != nil || verdict != "hold" || !strings.Contains(reason, "key 7 differs in amount→amount") {
		t.Errorf("dashboard gate row: verdict %q, reason %q (%v, %v)", verdict, reason, err, err2)
	}
	if _, err := pg.Conn(t).Exec(t.Context(), "UPDATE recon SET amount = 8.75 WHERE id = 7"); err != nil {
		t.Fatal(err)
	}
	done, _ := ev.wait(t, "reconciled", 0, 60*time.Second, action(rollout.ActComplete))
	if !strings.Contains(done.Reason, "complete_when: reconcile recon found 0 differing key(s)") {
		t.Errorf("completion reason %q", done.Reason)
	}
}

// gateOf is the named gate's result in a decision's figures.
func gateOf(f *rollout.Figures, name string) *rollout.GateResult {
	if f == nil {
		return nil
	}
	for i := range f.Gates {
		if f.Gates[i].Name == name {
			return &f.Gates[i]
		}
	}
	return nil
}

// writeOrders writes an order to both databases every 10 ms until ctx
// ends: in table good always equal; in bad, 1 % (every id ending in 50)
// with another amount on new.
func writeOrders(ctx context.Context, t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres) {
	db, conn := my.DB(t), pg.Conn(t)
	for id := 1; ctx.Err() == nil; id++ {
		amount := fmt.Sprintf("%d.%02d", id, id%100)
		for _, tbl := range []string{"good", "bad"} {
			if _, err := db.ExecContext(ctx, "INSERT INTO "+tbl+" VALUES (?, ?)", id, amount); err != nil {
				return // ctx ended
			}
			newAmount := amount
			if tbl == "bad" && id%100 == 50 {
				newAmount = fmt.Sprintf("%d.%02d", id+1, id%100)
			}
			if _, err := conn.Exec(ctx, "INSERT INTO "+tbl+" VALUES ($1, $2)", id, newAmount); err != nil {
				return
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// requestLoop sends requests to a route until ctx ends.
func requestLoop(ctx context.Context, proxyAddr, route string) {
	client := &http.Client{Timeout: 5 * time.Second}
	for i := 0; ctx.Err() == nil; i++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+proxyAddr+"/"+route+"/"+strconv.Itoa(i), nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
		}
		select {
		case <-ctx.Done():
		case <-time.After(15 * time.Millisecond):
		}
	}
}
