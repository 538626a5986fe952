package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ficus-migrate/ficus/internal/testenv"
)

// TestDataComparison starts one MariaDB and one PostgreSQL for both modes
// of compare_data: reconcile (tables recon) and continuous (tables orders).
func TestDataComparison(t *testing.T) {
	t.Parallel()
	var pg *testenv.Postgres
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pg = testenv.MustStartPostgres(t)
	}()
	my := testenv.MustStartMariaDB(t)
	wg.Wait()
	if pg == nil {
		t.FailNow()
	}
	t.Run("reconcile command", func(t *testing.T) { testReconcileCommand(t, my, pg) })
	t.Run("reconcile window and throttle", func(t *testing.T) { testReconcileWindow(t, my, pg) })
	t.Run("reconcile query side", func(t *testing.T) { testReconcileQuery(t, my, pg) })
	t.Run("reconcile resume and results", func(t *testing.T) { testReconcileResume(t, my, pg) })
	t.Run("continuous", func(t *testing.T) { testDataContinuous(t, my, pg) })
	t.Run("tuple keys", func(t *testing.T) { testDataTupleKeys(t, my, pg) })
	t.Run("continuous query side", func(t *testing.T) { testDataContinuousQuery(t, my, pg) })
}

// testReconcileCommand runs `ficus reconcile orders` on a MariaDB legacy
// table and a PostgreSQL new table (cents, renamed columns, mapped status)
// with three planted differences, in both output formats.
func testReconcileCommand(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres) {
	my.Exec(t, `CREATE TABLE recon (id BIGINT PRIMARY KEY, status ENUM('NEW','PAID') NOT NULL,
		amount DECIMAL(12,2) NOT NULL, customer_id INT)`)
	my.Exec(t, `INSERT INTO recon SELECT seq, IF(seq % 2, 'NEW', 'PAID'), seq * 1.25, seq FROM seq_1_to_5000`)
	pg.Exec(t, `CREATE TABLE recon (legacy_id bigint PRIMARY KEY, state text, total bigint, customer_ref int)`)
	pg.Exec(t, `INSERT INTO recon SELECT s, CASE WHEN s % 2 = 1 THEN 'created' ELSE 'paid' END, s * 125, s
		FROM generate_series(1, 5000) s`)
	pg.Exec(t, `DELETE FROM recon WHERE legacy_id = 100`)
	pg.Exec(t, `UPDATE recon SET total = 1 WHERE legacy_id = 2000`)
	pg.Exec(t, `INSERT INTO recon VALUES (9000, 'paid', 5, NULL)`)

	cfg := filepath.Join(t.TempDir(), "ficus.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
capture:
  sources:
    - { name: shop, type: mysql, dsn: "%s", server_id: 4001 }
    - { name: orders_svc, type: postgres, dsn: "%s" }
compare_data:
  - name: orders
    legacy: { source: shop, table: ficus.recon, key: [id] }
    new: { source: orders_svc, table: public.recon, key: [legacy_id] }
    columns: { status: state, amount: total, customer_id: customer_ref }
    rules:
      - { column: amount, scale: 100 }
      - { column: status, map: { NEW: created, PAID: paid } }
`, my.DSN(), pg.DSN())), 0o600); err != nil {
		t.Fatal(err)
	}

	var out, errOut bytes.Buffer
	code := runFicus(context.Background(), t, &out, &errOut, "reconcile", "-c", cfg, "orders", "--format", "json", "--leaf-rows", "100")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (differences); stderr: %s", code, errOut.String())
	}
	if want := "reconcile orders: the tables differ in 3 key(s)"; !strings.Contains(errOut.String(), want) {
		t.Errorf("stderr does not say %q:\n%s", want, errOut.String())
	}
	var res struct {
		Equal       bool  `json:"equal"`
		LegacyRows  int64 `json:"legacy_rows"`
		NewRows     int64 `json:"new_rows"`
		Differences []struct {
			Key     int64  `json:"key"`
			Kind    string `json:"kind"`
			Columns []struct {
				Legacy string  `json:"legacy_column"`
				New    string  `json:"new_column"`
				L      *string `json:"legacy"`
				N      *string `json:"new"`
			} `json:"columns"`
		} `json:"differences"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	var got []string
	for _, d := range res.Differences {
		s := fmt.Sprintf("%d %s", d.Key, d.Kind)
		for _, c := range d.Columns {
			s += fmt.Sprintf(" %s=%s/%s", c.Legacy, *c.L, *c.N)
		}
		got = append(got, s)
	}
	want := []string{"100 missing_in_new", "2000 differs amount=250000/1", "9000 missing_in_legacy"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") || res.Equal || res.LegacyRows != 5000 || res.NewRows != 5000 {
		t.Errorf("got %+v\ndifferences %q, want %q", res, got, want)
	}

	out.Reset()
	code = runFicus(context.Background(), t, &out, &errOut, "reconcile", "-c", cfg, "orders")
	text := out.String()
	for _, w := range []string{
		"orders: legacy 5000 rows, new 5000 rows: 3 difference(s)",
		"  key 100: missing in new",
		`  key 2000: differs: amount→total legacy "250000" new "1";`,
		"  key 9000: missing in legacy",
		"cost: ",
	} {
		if !strings.Contains(text, w) {
			t.Errorf("text output lacks %q:\n%s", w, text)
		}
	}
	if code != 1 {
		t.Errorf("text: exit %d, want 1", code)
	}

	// Equal tables exit 0; an unknown name exits 2 and names the configured ones.
	pg.Exec(t, `INSERT INTO recon VALUES (100, 'paid', 12500, 100)`)
	pg.Exec(t, `UPDATE recon SET total = 250000 WHERE legacy_id = 2000`)
	pg.Exec(t, `DELETE FROM recon WHERE legacy_id = 9000`)
	out.Reset()
	if code := runFicus(context.Background(), t, &out, &errOut, "reconcile", "-c", cfg, "orders"); code != 0 {
		t.Errorf("equal tables: exit %d:\n%s%s", code, out.String(), errOut.String())
	}
	errOut.Reset()
	if code := runFicus(context.Background(), t, &out, &errOut, "reconcile", "-c", cfg, "payments"); code != 2 ||
		!strings.Contains(errOut.String(), `no compare_data named "payments" (configured: [orders])`) {
		t.Errorf("unknown name: exit %d, stderr %q", code, errOut.String())
	}
}
