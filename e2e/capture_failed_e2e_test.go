package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/admin/dashboard"
	"github.com/ficus-migrate/ficus/internal/testenv"
)

// A publish that NATS can never accept — here an event larger than the
// server's max_payload — stops that source instead of being retried for ever
// from the same position: the error, naming the table, shows in GET
// /api/capture, on /readyz, in ficus_capture_failed and in the log at error
// level, while another source of the same process keeps streaming.
func TestCapturePermanentPublishError(t *testing.T) {
	t.Parallel()
	pg := testenv.MustStartPostgres(t)
	n := startNATSServer(t, "max_payload: 4096")
	pg.Exec(t, `CREATE TABLE "Big Rows" (id int PRIMARY KEY, body text)`)
	pg.Exec(t, `CREATE TABLE small (id int PRIMARY KEY)`)
	const token = "capture-failed-token"
	adminAddr := freeAddr(t)
	cfg := writeConfig(t, fmt.Sprintf(`
nats: {url: %q}
admin: {listen: %q, token: %q}
data_dir: %q
capture:
  sources:
    - {name: big, type: postgres, dsn: %q, tables: ["public.Big Rows"], snapshot: never}
    - {name: fine, type: postgres, dsn: %q, tables: [public.small], snapshot: never}
`, n.url, adminAddr, token, t.TempDir(), pg.DSN(), pg.DSN()))
	logs := &testenv.LogBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ficus logs (tail):\n%s", tail(logs.String(), 8000))
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	proc := startFicus(t, buildFicus(t), logs, "capture", "-c", cfg)
	waitAdminReady(t, adminAddr, token, proc.exited)
	waitForSlot(ctx, t, pg, "ficus_big")
	waitForSlot(ctx, t, pg, "ficus_fine")

	pg.Exec(t, `INSERT INTO "Big Rows" VALUES (1, 'small enough')`)
	pg.Exec(t, `INSERT INTO "Big Rows" VALUES (2, repeat('x', 8000))`) // over max_payload once encoded
	pg.Exec(t, `INSERT INTO small VALUES (1)`)

	api := adminAPI(adminAddr, token)
	var big dashboard.SourceFigures
	for big.Error == "" {
		if ctx.Err() != nil {
			t.Fatalf("source big never reported failed in GET /api/capture: %+v", big)
		}
		var figs []dashboard.SourceFigures
		if err := api.Get(ctx, "/api/capture", &figs); err != nil {
			t.Fatal(err)
		}
		for _, f := range figs {
			switch {
			case f.Name == "big":
				big = f
			case f.Failed:
				t.Fatalf("source %s failed too: %s", f.Name, f.Error)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !big.Failed || !strings.Contains(big.Error, "public.Big Rows") || !strings.Contains(big.Error, "maximum payload exceeded") {
		t.Errorf("GET /api/capture for big: failed %v, error %q; want the table and the reason", big.Failed, big.Error)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "capture source stopped") {
		t.Errorf("no error-level log of the stopped source")
	}
	r, err := api.Ready(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var check string
	for _, c := range r.Checks {
		if c.Name == "capture.big" && !c.Ready {
			check = c.Error
		}
	}
	if r.Ready || !strings.Contains(check, "public.Big Rows") {
		t.Errorf("/readyz: ready %v, checks %+v; want capture.big failed naming the table", r.Ready, r.Checks)
	}
	metrics, err := api.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`ficus_capture_failed{source="big"} 1`, `ficus_capture_failed{source="fine"} 0`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// The other source keeps streaming, and the process keeps running.
	pg.Exec(t, `INSERT INTO small VALUES (2), (3)`)
	nc, err := nats.Connect(n.url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	waitForMessages(ctx, t, js, "FICUS_CDC_FINE", 3)
	// Of big, only the event before the failure is stored.
	st, err := js.Stream(ctx, "FICUS_CDC_BIG")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("FICUS_CDC_BIG holds %d events; want the one before the failure", info.State.Msgs)
	}
	select {
	case err := <-proc.exited:
		proc.exited <- err
		t.Fatalf("ficus exited: %v", err)
	default:
	}
}
