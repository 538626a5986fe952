package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/shadow/data/continuous"
)

// TestRowComparatorPlugin runs compare_data[].plugin with the order-mapper
// example over one MariaDB and one PostgreSQL, in both modes: rows that
// differ only by what the plugin accepts (a total rounded by less than a
// cent, a shipped order the new service calls delivered) are not reported,
// while real differences still are, with the plugin's reason.
func TestRowComparatorPlugin(t *testing.T) {
	t.Parallel()
	var pg *testenv.Postgres
	var wg sync.WaitGroup
	wg.Go(func() { pg = testenv.MustStartPostgres(t) })
	// The plugins build while the databases start.
	dir := t.TempDir()
	mapper, cents := filepath.Join(dir, "order-mapper"), filepath.Join(dir, "cents-comparator")
	var buildErr error
	wg.Go(func() {
		for _, bin := range []string{mapper, cents} {
			if b, err := exec.Command("go", "build", "-o", bin, examplesPkg+filepath.Base(bin)).CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("build %s: %v\n%s", bin, err, b)
				return
			}
		}
	})
	my := testenv.MustStartMariaDB(t)
	wg.Wait()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	if pg == nil {
		t.FailNow()
	}
	t.Run("reconcile", func(t *testing.T) { testReconcilePlugin(t, my, pg, mapper, cents) })
	t.Run("continuous", func(t *testing.T) { testContinuousPlugin(t, my, pg, mapper) })
	t.Run("run refuses a plugin without the service", func(t *testing.T) { testRunRefusesPlugin(t, my, pg, cents) })
}

// testRunRefusesPlugin: `ficus run` with compare_data[].plugin naming a
// plugin that serves no row comparison exits at start, naming both.
func testRunRefusesPlugin(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres, cents string) {
	cfg := writeConfig(t, fmt.Sprintf(`
nats: {embedded: {listen: %q, store_dir: %q}}
admin: {listen: %q}
plugins:
  - {name: cents, path: %q}
capture:
  sources:
    - {name: shop_refused, type: mysql, dsn: %q, server_id: 4203, tables: [ficus.rp_orders]}
    - {name: svc_refused, type: postgres, dsn: %q, tables: [public.rp_orders]}
compare_data:
  - name: refused
    legacy: {source: shop_refused, table: ficus.rp_orders, key: [id]}
    new: {source: svc_refused, table: public.rp_orders, key: [legacy_id]}
    columns: {status: state}
    plugin: cents
`, freeAddr(t), t.TempDir(), freeAddr(t), cents, my.DSN(), pg.DSN()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, buildFicus(t), "run", "-c", cfg).CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("ficus run did not refuse (err %v):\n%s", err, tail(string(out), 4000))
	}
	if w := "compare_data[0] (refused): plugin cents does not serve row comparison"; !strings.Contains(string(out), w) {
		t.Errorf("output does not say %q:\n%s", w, tail(string(out), 4000))
	}
}

func testReconcilePlugin(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres, mapper, cents string) {
	// Legacy keeps three decimals and status codes; new rounds to cents
	// and splits shipped into shipped/delivered, cancelled into
	// cancelled/refunded.
	my.Exec(t, `CREATE TABLE rp_orders (id BIGINT PRIMARY KEY, status CHAR(1) NOT NULL, amount DECIMAL(12,3), customer_id INT)`)
	my.Exec(t, `INSERT INTO rp_orders SELECT seq, ELT(seq % 4 + 1, 'N', 'P', 'S', 'C'), seq + IF(seq % 10 = 0, 0.004, 0), seq
		FROM seq_1_to_4000`)
	pg.Exec(t, `CREATE TABLE rp_orders (legacy_id bigint PRIMARY KEY, state text, total numeric(12,2), customer_ref int)`)
	pg.Exec(t, `INSERT INTO rp_orders SELECT s, (ARRAY['new','paid','shipped','cancelled'])[s % 4 + 1], s, s
		FROM generate_series(1, 4000) s`)
	pg.Exec(t, `UPDATE rp_orders SET state = 'delivered' WHERE legacy_id % 8 = 2`)
	pg.Exec(t, `UPDATE rp_orders SET state = 'refunded' WHERE legacy_id % 8 = 3`)
	// The real differences.
	pg.Exec(t, `UPDATE rp_orders SET state = 'paid' WHERE legacy_id = 1234`)
	pg.Exec(t, `UPDATE rp_orders SET total = 2000.02 WHERE legacy_id = 2000`)
	pg.Exec(t, `UPDATE rp_orders SET customer_ref = 1 WHERE legacy_id = 3001`)
	pg.Exec(t, `DELETE FROM rp_orders WHERE legacy_id = 500`)

	entry := `
  - name: %s
    legacy: { source: shop, table: ficus.rp_orders, key: [id] }
    new: { source: orders_svc, table: public.rp_orders, key: [legacy_id] }
    columns: { status: state, amount: total, customer_id: customer_ref }
    rules:
      - { column: status, map: { N: new, P: paid, S: shipped, C: cancelled } }`
	cfg := filepath.Join(t.TempDir(), "ficus.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
log: { level: warn }
plugins:
  - { name: mapper, path: %q }
  - { name: cents, path: %q }
capture:
  sources:
    - { name: shop, type: mysql, dsn: "%s", server_id: 4201 }
    - { name: orders_svc, type: postgres, dsn: "%s" }
compare_data:`+entry+`
    plugin: mapper`+entry+`
    plugin: cents`+entry+"\n", mapper, cents, my.DSN(), pg.DSN(), "orders", "orders_cents", "orders_plain")), 0o600); err != nil {
		t.Fatal(err)
	}

	type column struct {
		Legacy string  `json:"legacy_column"`
		New    string  `json:"new_column"`
		L      *string `json:"legacy"`
		N      *string `json:"new"`
	}
	reconcileJSON := func(name string) (code int, diffs []string, stderr string) {
		t.Helper()
		var out, errOut bytes.Buffer
		code = runFicus(context.Background(), t, &out, &errOut, "reconcile", "-c", cfg, name, "--format", "json", "--leaf-rows", "200")
		if code == 2 {
			return code, nil, errOut.String()
		}
		var res struct {
			Differences []struct {
				Key     int64    `json:"key"`
				Kind    string   `json:"kind"`
				Columns []column `json:"columns"`
				Reason  string   `json:"reason"`
			} `json:"differences"`
		}
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("%v: %s", err, out.String())
		}
		for _, d := range res.Differences {
			s := fmt.Sprintf("%d %s", d.Key, d.Kind)
			for _, c := range d.Columns {
				s += fmt.Sprintf(" %s=%s/%s", c.Legacy, deref(c.L), deref(c.N))
			}
			if d.Reason != "" {
				s += " (" + d.Reason + ")"
			}
			diffs = append(diffs, s)
		}
		return code, diffs, errOut.String()
	}

	began := time.Now()
	code, got, stderr := reconcileJSON("orders")
	want := []string{
		"500 missing_in_new",
		`1234 differs status=shipped/paid (status→state: legacy "shipped" allows [shipped delivered], not "paid")`,
		"2000 differs amount=2000.004/2000.02 (amount→total: apart by 0.016, more than the 0.01 of rounding allowed)",
		"3001 differs customer_id=3001/1 (customer_id→customer_ref: values differ)",
	}
	if code != 1 || !slices.Equal(got, want) {
		t.Errorf("with the plugin: exit %d, differences\n%s\nwant\n%s\nstderr: %s", code, strings.Join(got, "\n"), strings.Join(want, "\n"), stderr)
	}
	t.Logf("reconcile with the plugin took %s", time.Since(began).Round(time.Millisecond))
	if pids := processesOf(t, mapper); len(pids) > 0 {
		t.Errorf("plugin processes %v still run after ficus reconcile returned", pids)
	}

	// The same tables without the plugin: every rounded total and every
	// finer status is a difference.
	if code, got, stderr := reconcileJSON("orders_plain"); code != 1 || len(got) != 1301 {
		t.Errorf("without the plugin: exit %d, %d differences, want 1301; stderr: %s", code, len(got), stderr)
	}

	// A plugin without the RowComparator service stops the command before
	// it reads a row.
	code, _, stderr = reconcileJSON("orders_cents")
	for _, w := range []string{"compare_data[1] (orders_cents): plugin cents does not serve row comparison", "RowComparator"} {
		if code != 2 || !strings.Contains(stderr, w) {
			t.Errorf("plugin without the service: exit %d, stderr does not say %q:\n%s", code, w, stderr)
		}
	}
	if pids := processesOf(t, cents); len(pids) > 0 {
		t.Errorf("plugin processes %v still run after the refusal", pids)
	}
}

// processesOf lists the processes running the executable path.
func processesOf(t *testing.T, path string) []string {
	t.Helper()
	exes, err := filepath.Glob("/proc/[0-9]*/exe")
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, exe := range exes {
		if target, err := os.Readlink(exe); err == nil && target == path {
			pids = append(pids, filepath.Base(filepath.Dir(exe)))
		}
	}
	return pids
}

// testContinuousPlugin runs `ficus run` with the plugin on compare_data:
// the continuous comparison asks it about keys still different at max_lag.
// max_lag is 5 s, not less: the two captures of one write can lie more than a
// second apart on a loaded CI machine, and a key reported missing then would
// be a finding the test did not make.
func testContinuousPlugin(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres, mapper string) {
	my.Exec(t, `CREATE TABLE rp_live (id BIGINT PRIMARY KEY, status CHAR(1) NOT NULL, amount DECIMAL(12,3), customer_id INT)`)
	pg.Exec(t, `CREATE TABLE rp_live (legacy_id bigint PRIMARY KEY, state text, total numeric(12,2), customer_ref int)`)
	natsAddr, adminAddr := freeAddr(t), freeAddr(t)
	cfg := writeConfig(t, fmt.Sprintf(`
nats: {embedded: {listen: %q, store_dir: %q}}
admin: {listen: %q}
plugins:
  - {name: mapper, path: %q}
capture:
  sources:
    - {name: shop, type: mysql, dsn: %q, server_id: 4202, tables: [ficus.rp_live]}
    - {name: orders_svc, type: postgres, dsn: %q, tables: [public.rp_live]}
compare_data:
  - name: orders
    legacy: {source: shop, table: ficus.rp_live, key: [id]}
    new: {source: orders_svc, table: public.rp_live, key: [legacy_id]}
    columns: {status: state, amount: total, customer_id: customer_ref}
    rules:
      - {column: status, map: {N: new, P: paid, S: shipped, C: cancelled}}
    max_lag: 5s
    plugin: mapper
`, natsAddr, t.TempDir(), adminAddr, mapper, my.DSN(), pg.DSN()))
	logs := &testenv.LogBuffer{}
	proc := startFicus(t, buildFicus(t), logs, "run", "-c", cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ficus logs:\n%s", tail(logs.String(), 8000))
		}
	})
	waitAdminReady(t, adminAddr, "", proc.exited)

	const orders = 40
	my.Exec(t, `INSERT INTO rp_live SELECT seq, ELT(seq % 4 + 1, 'N', 'P', 'S', 'C'), seq + IF(seq % 5 = 0, 0.004, 0), seq
		FROM seq_1_to_40`)
	pg.Exec(t, `INSERT INTO rp_live SELECT s, CASE WHEN s = 26 THEN 'new' WHEN s % 8 = 2 THEN 'delivered'
		WHEN s % 8 = 3 THEN 'refunded' ELSE (ARRAY['new','paid','shipped','cancelled'])[s % 4 + 1] END,
		CASE WHEN s = 13 THEN 13.5 ELSE s END, s FROM generate_series(1, 40) s`)

	figs := waitFigures(t, adminAddr, func(f continuous.Figures) bool {
		return f.KeysSeen == orders && f.Pending == 0 && f.Matched+f.Differing == orders
	})
	if figs.Matched != orders-2 || figs.Differing != 2 {
		t.Errorf("figures %+v, want %d matched and 2 differing", figs, orders-2)
	}

	nc, err := nats.Connect(natsURLOf(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	got := reasons(t, nc, 2)
	want := []string{
		"13 differs amount→total (amount→total: apart by 0.5, more than the 0.01 of rounding allowed)",
		`26 differs status→state (status→state: legacy "shipped" allows [shipped delivered], not "new")`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// reasons reads n findings of compare_data orders: key, kind, columns and
// the plugin's reason, sorted by key.
func reasons(t *testing.T, nc *nats.Conn, n int) []string {
	t.Helper()
	var out []string
	for _, f := range readFindings(t, nc, n) {
		s := fmt.Sprintf("%d %s", f.Key, f.Kind)
		for _, c := range f.Columns {
			s += fmt.Sprintf(" %s→%s", c.Legacy, c.New)
		}
		out = append(out, s+" ("+f.Reason+")")
	}
	slices.Sort(out)
	return out
}
