package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/shadow/data/continuous"
)

const dataConfig = `
nats: {embedded: {listen: %q, store_dir: %q}}
admin: {listen: %q}
capture:
  sources:
    - {name: shop, type: mysql, dsn: %q, server_id: 4101, tables: [ficus.orders]}
    - {name: orders_svc, type: postgres, dsn: %q, tables: [public.orders]}
compare_data:
  - name: orders
    legacy: {source: shop, table: ficus.orders, key: [id]}
    new: {source: orders_svc, table: public.orders, key: [legacy_id]}
    columns: {status: state, amount: total, customer_id: customer_ref}
    rules:
      - {column: amount, scale: 100}
      - {column: status, map: {NEW: created, PAID: paid}}
    max_lag: 10s
`

// testDataContinuous runs `ficus run` capturing a MariaDB legacy and a
// PostgreSQL new database, with a writer that writes every order to both
// with controlled faults: 1 % never reach new, 0.5 % get a wrong amount,
// ten arrive in new 2 s late (max_lag is 10 s) and one is deleted from
// legacy only. The findings on FICUS_DATA must be exactly those faults;
// then a late write of a missing row resolves its finding.
func testDataContinuous(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres) {
	my.Exec(t, `CREATE TABLE orders (id BIGINT PRIMARY KEY, status ENUM('NEW','PAID') NOT NULL,
		amount DECIMAL(12,2) NOT NULL, customer_id INT)`)
	pg.Exec(t, `CREATE TABLE orders (legacy_id bigint PRIMARY KEY, state text NOT NULL, total bigint NOT NULL, customer_ref int)`)

	natsAddr, adminAddr := freeAddr(t), freeAddr(t)
	cfg := writeConfig(t, fmt.Sprintf(dataConfig, natsAddr, t.TempDir(), adminAddr, my.DSN(), pg.DSN()))
	logs := &testenv.LogBuffer{}
	proc := startFicus(t, buildFicus(t), logs, "run", "-c", cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ficus logs:\n%s", tail(logs.String(), 8000))
		}
	})
	waitAdminReady(t, adminAddr, "", proc.exited)

	const orders = 400
	missing := map[int]bool{50: true, 150: true, 250: true, 350: true} // 1 %
	wrong := map[int]bool{77: true, 277: true}                         // 0.5 %
	late := map[int]bool{}
	for id := 10; id < 20; id++ {
		late[id] = true
	}
	const deletedInLegacy = 123
	status := func(id int) (string, string) {
		if id%2 == 0 {
			return "NEW", "created"
		}
		return "PAID", "paid"
	}
	myDB, pgConn := my.DB(t), pg.Conn(t)
	ctx := context.Background()
	write := func(id int, toNew bool, cents int) {
		ls, ns := status(id)
		if _, err := myDB.ExecContext(ctx, "INSERT INTO orders VALUES (?, ?, ?, ?)", id, ls, fmt.Sprintf("%d.%02d", id, id%100), id%7); err != nil {
			t.Fatal(err)
		}
		if toNew {
			if _, err := pgConn.Exec(ctx, "INSERT INTO orders VALUES ($1, $2, $3, $4)", id, ns, cents, id%7); err != nil {
				t.Fatal(err)
			}
		}
	}
	for id := 1; id <= orders; id++ {
		if late[id] {
			continue
		}
		cents := id*100 + id%100
		if wrong[id] {
			cents++
		}
		write(id, !missing[id], cents)
	}
	my.Exec(t, "DELETE FROM orders WHERE id = ?", deletedInLegacy)
	// The late ones: legacy now, new 2 s later (max_lag is 10 s).
	for id := range late {
		write(id, false, 0)
	}
	time.Sleep(2 * time.Second)
	for id := range late {
		_, ns := status(id)
		if _, err := pgConn.Exec(ctx, "INSERT INTO orders VALUES ($1, $2, $3, $4)", id, ns, id*100+id%100, id%7); err != nil {
			t.Fatal(err)
		}
	}

	figs := waitFigures(t, adminAddr, func(f continuous.Figures) bool {
		return f.KeysSeen == orders && f.Pending == 0 && f.MissingInNew+f.Differing+f.DeletedOneSide == 7
	})
	if figs.Matched != orders-7 || figs.MissingInNew != 4 || figs.Differing != 2 || figs.DeletedOneSide != 1 ||
		figs.MissingInLegacy != 0 || figs.LagCount < 10 || figs.LagP99 < 1 || figs.LagP99 > 10 {
		t.Errorf("figures %+v", figs)
	}

	nc, err := nats.Connect(natsURLOf(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	want := []string{
		"50 missing_in_new", "77 differs amount→total=7777/7778", "123 deleted_on_one_side in legacy",
		"150 missing_in_new", "250 missing_in_new", "277 differs amount→total=27777/27778", "350 missing_in_new",
	}
	if got := findings(t, nc, len(want)); !slices.Equal(got, want) {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A late write that catches up resolves the earlier finding.
	if _, err := pgConn.Exec(ctx, "INSERT INTO orders VALUES (50, 'created', 5050, 1)"); err != nil {
		t.Fatal(err)
	}
	figs = waitFigures(t, adminAddr, func(f continuous.Figures) bool { return f.Resolved == 1 })
	if figs.MissingInNew != 3 || figs.Matched != orders-6 {
		t.Errorf("after the late write: %+v", figs)
	}
	if got := findings(t, nc, len(want)+1); got[len(got)-1] != "50 resolved missing_in_new" {
		t.Errorf("last finding %q, want the resolution of 50", got[len(got)-1])
	}

	// `ficus report` gains the data section, in JSON and in the HTML page; it
	// finds the embedded server and its credentials through the config.
	var out, errOut bytes.Buffer
	args := []string{"report", "-c", cfg, "--since", "1h"}
	if code := runFicus(ctx, t, &out, &errOut, append(args, "--format", "json")...); code != 0 {
		t.Fatalf("report: exit %d: %s", code, errOut.String())
	}
	var rep struct {
		Data []struct {
			Name     string         `json:"name"`
			Findings int            `json:"findings"`
			ByKind   map[string]int `json:"by_kind"`
			Open     int            `json:"open"`
			Resolved int            `json:"resolved"`
			Examples []struct {
				Key int64 `json:"key"`
			} `json:"examples"`
		} `json:"data"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if len(rep.Data) != 1 || rep.Data[0].Name != "orders" || rep.Data[0].Findings != 8 || rep.Data[0].Open != 6 ||
		rep.Data[0].Resolved != 1 || rep.Data[0].ByKind["missing_in_new"] != 4 || rep.Data[0].ByKind["differs"] != 2 ||
		rep.Data[0].ByKind["deleted_on_one_side"] != 1 || len(rep.Data[0].Examples) != 6 || rep.Data[0].Examples[0].Key != 77 {
		t.Errorf("report data section: %s", out.String())
	}
	out.Reset()
	if code := runFicus(ctx, t, &out, &errOut, append(args, "--format", "html")...); code != 0 {
		t.Fatalf("report html: exit %d: %s", code, errOut.String())
	}
	for _, w := range []string{"<h2>Comparison orders</h2>", "key 77: differs; amount→total legacy &#34;7777&#34; new &#34;7778&#34;",
		"key 123: deleted on one side (deleted in legacy)", "6 open, 1 resolved"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("html report lacks %q", w)
		}
	}
}
