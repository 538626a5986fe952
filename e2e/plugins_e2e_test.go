package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/testenv"
)

// examplesPkg is where the example plugins are, by package path.
const examplesPkg = "github.com/ficus-migrate/ficus/plugins/examples/"

// buildPlugin builds an example plugin into a temporary directory.
func buildPlugin(t *testing.T, name string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	if b, err := exec.Command("go", "build", "-o", out, examplesPkg+name).CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, b)
	}
	return out
}

// TestPluginsInTheBinary runs `ficus run` with the order-mapper plugin: a
// wrong checksum stops ficus at start, and a plugin that keeps failing
// stops its source and fails /readyz instead of letting events through.
func TestPluginsInTheBinary(t *testing.T) {
	t.Parallel()
	bin, mapper := buildFicus(t), buildPlugin(t, "order-mapper")
	ns := testenv.MustStartNATS(t)

	t.Run("wrong checksum refused", func(t *testing.T) {
		bad := strings.Repeat("ab", 32)
		cfg := writeConfig(t, fmt.Sprintf(`
nats: {url: %q}
admin: {listen: "127.0.0.1:0"}
plugins:
  - {name: order-mapper, path: %q, sha256: %s}
`, ns.URL, mapper, bad))
		out, err := exec.Command(bin, "run", "-c", cfg).CombinedOutput()
		if err == nil {
			t.Fatalf("ficus ran with a mismatching plugin:\n%s", out)
		}
		for _, want := range []string{"refusing to run " + mapper, "expects " + bad} {
			if !strings.Contains(string(out), want) {
				t.Errorf("output does not say %q:\n%s", want, out)
			}
		}
	})

	t.Run("failing plugin fails readyz", func(t *testing.T) {
		pg := testenv.MustStartPostgres(t)
		pg.Exec(t, `CREATE TABLE orders (id int PRIMARY KEY, status text NOT NULL, total_cents bigint)`)
		admin := freeAddr(t)
		cfg := writeConfig(t, fmt.Sprintf(`
nats: {url: %q}
admin: {listen: %q, token: t0ken}
plugins:
  - {name: order-mapper, path: %q, env: {MAPPER_MODE: strict}, timeout: 2s}
capture:
  sources:
    - {name: legacy, type: postgres, dsn: %q, transforms: [order-mapper]}
`, ns.URL, admin, mapper, pg.DSN()))
		logs := &testenv.LogBuffer{}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("ficus logs:\n%s", logs.String())
			}
		})
		proc := startFicus(t, bin, logs, "run", "-c", cfg)
		waitAdminReady(t, admin, "t0ken", proc.exited)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		waitForSlot(ctx, t, pg, "ficus_legacy")

		pg.Exec(t, `INSERT INTO orders VALUES (1, 'P', 250)`)
		nc, err := nats.Connect(ns.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		st := waitForMessages(ctx, t, js, "FICUS_CDC_LEGACY", 1)
		m, err := st.GetMsg(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != "ficus.cdc.legacy.public.orders_v2" || !strings.Contains(string(m.Data), `"after":{"id":1,"status":"paid","total":"2.50"}`) {
			t.Fatalf("not mapped: %s %s", m.Subject, m.Data)
		}

		pg.Exec(t, `INSERT INTO orders VALUES (2, 'Z', 1)`) // strict mode refuses it
		// The check names and reasons, as /readyz gives them to the token's holder.
		var body string
		api := adminAPI(admin, "t0ken")
		for {
			r, err := api.Ready(ctx)
			if err == nil {
				var parts []string
				for _, c := range r.Checks {
					parts = append(parts, c.Name+": "+c.Error)
				}
				body = strings.Join(parts, "\n")
				if !r.Ready && strings.Contains(body, "capture.legacy") {
					break
				}
			}
			if ctx.Err() != nil {
				t.Fatalf("readyz never failed; last answer:\n%s", body)
			}
			time.Sleep(200 * time.Millisecond)
		}
		for _, want := range []string{"plugin.order-mapper", `unknown status code "Z"`} {
			if !strings.Contains(body, want) {
				t.Errorf("readyz does not say %q:\n%s", want, body)
			}
		}
		if info, err := st.Info(ctx); err != nil || info.State.Msgs != 1 {
			t.Errorf("stream holds %v messages (%v), want only the mapped one", info.State.Msgs, err)
		}
	})
}
