package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/internal/testenv"
)

// testReconcileWindow runs `ficus reconcile` with compare_data's where,
// min_age, updated_at and throttle and --rate-limit: only the differences
// inside the window are reported; a run started while the pause file
// exists says so and waits, and finishes once it is gone; a where with ';'
// is refused at load (file:line, field), one the database cannot plan at
// start.
func testReconcileWindow(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres) {
	my.Exec(t, `CREATE TABLE reconw (id BIGINT PRIMARY KEY, v INT NOT NULL, updated_at DATETIME(6) NOT NULL)`)
	my.Exec(t, `INSERT INTO reconw SELECT seq, seq, '2024-01-01' FROM seq_1_to_3000`)
	pg.Exec(t, `CREATE TABLE reconw (legacy_id bigint PRIMARY KEY, v int NOT NULL, updated_at timestamptz NOT NULL)`)
	pg.Exec(t, `INSERT INTO reconw SELECT s, s, '2024-01-01' FROM generate_series(1, 3000) s`)
	pg.Exec(t, `UPDATE reconw SET v = -1 WHERE legacy_id IN (4, 5)`)                   // 5: outside the where
	pg.Exec(t, `UPDATE reconw SET v = -1, updated_at = now() WHERE legacy_id = 6`)     // touched within min_age
	my.Exec(t, `UPDATE reconw SET v = -1, updated_at = UTC_TIMESTAMP(6) WHERE id = 8`) // the same on legacy
	pause := filepath.Join(t.TempDir(), "pause")
	config := func(legacyWhere string) string {
		cfg := filepath.Join(t.TempDir(), "ficus.yaml")
		if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`capture:
  sources:
    - { name: shop, type: mysql, dsn: "%s", server_id: 4002 }
    - { name: orders_svc, type: postgres, dsn: "%s" }
compare_data:
  - name: win
    legacy: { source: shop, table: ficus.reconw, key: [id] }
    new: { source: orders_svc, table: public.reconw, key: [legacy_id] }
    columns: { v: v }
    where: { legacy: %q, new: "legacy_id %% 2 = 0" }
    min_age: 10m
    updated_at: { legacy: updated_at, new: updated_at }
    throttle: { max_query_seconds: 0.5, max_threads_running: 50, pause_file: %s }
`, my.DSN(), pg.DSN(), legacyWhere, pause)), 0o600); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	good := config("id % 2 = 0")

	// Started while the pause file exists: it says why it waits, and
	// finishes once the file is gone.
	if err := os.WriteFile(pause, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	var errOut testenv.LogBuffer
	cmd := exec.CommandContext(ctx, buildFicus(t), "reconcile", "-c", good, "win", "--format", "json", "--rate-limit", "1000000")
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for !strings.Contains(errOut.String(), "pause file "+pause+" exists") {
		select {
		case err := <-exited:
			t.Fatalf("exited (%v) while the pause file exists:\n%s", err, errOut.String())
		case <-ctx.Done():
			t.Fatalf("never said it was paused:\n%s", errOut.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := os.Remove(pause); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-exited:
	case <-ctx.Done():
		t.Fatalf("did not finish once the pause file was removed:\n%s", errOut.String())
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit %v, want 1 (differences):\n%s", err, errOut.String())
	}
	for _, w := range []string{"reconcile paused", "reconcile resumed"} {
		if !strings.Contains(errOut.String(), w) {
			t.Errorf("stderr lacks %q:\n%s", w, errOut.String())
		}
	}
	var res struct {
		Differences []struct {
			Key  int64  `json:"key"`
			Kind string `json:"kind"`
		} `json:"differences"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if len(res.Differences) != 1 || res.Differences[0].Key != 4 {
		t.Errorf("differences %+v, want key 4 only (5 is outside the where, 6 and 8 within min_age)", res.Differences)
	}

	// A ';' is refused when the config is read, with its position.
	var stderr bytes.Buffer
	bad := config("id % 2 = 0; DROP TABLE reconw")
	if code := runFicus(ctx, t, &out, &stderr, "reconcile", "-c", bad, "win"); code != 2 ||
		!strings.Contains(stderr.String(), "ficus.yaml:10:") ||
		!strings.Contains(stderr.String(), "compare_data[0].where.legacy: expected one SQL condition without ';'") {
		t.Errorf("where with ';': exit %d, stderr:\n%s", code, stderr.String())
	}
	// What the database cannot plan is refused at start.
	stderr.Reset()
	if code := runFicus(ctx, t, &out, &stderr, "reconcile", "-c", config("no_such_column = 1"), "win"); code != 2 ||
		!strings.Contains(stderr.String(), "refused the where/min_age condition") {
		t.Errorf("where on an unknown column: exit %d, stderr:\n%s", code, stderr.String())
	}
	stderr.Reset()
	if code := runFicus(ctx, t, &out, &stderr, "reconcile", "-c", good, "win", "--rate-limit", "-5"); code != 2 ||
		!strings.Contains(stderr.String(), "--rate-limit must not be negative") {
		t.Errorf("--rate-limit -5: exit %d, stderr:\n%s", code, stderr.String())
	}
	if got := my.QueryString(t, "SELECT COUNT(*) FROM reconw"); got != "3000" {
		t.Errorf("legacy table has %s rows", got)
	}
}
