package continuous

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
	"github.com/ficus-migrate/ficus/shadow/data/reconcile"
)

// cOrdersQuery sums new's items into legacy's one row per order.
const cOrdersQuery = `SELECT o.id, COALESCE(SUM(i.amount), 0) AS total
	FROM public.c_orders o LEFT JOIN public.c_items i ON i.order_id = o.id GROUP BY o.id`

// queryRows reads the query side's rows of keys through a real PostgreSQL
// side, as ficus run wires it.
func queryRows(ctx context.Context, t *testing.T, pg *testenv.Postgres) func(context.Context, []Key) (map[Key][]canon.Value, error) {
	pool, err := reconcile.OpenPostgres(ctx, pg.DSN(), 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close(context.Background()) })
	side, err := reconcile.NewPostgres(reconcile.PostgresConfig{Pool: pool,
		Table: reconcile.Table{Name: "new query", Key: "id", Columns: []string{"total"}, Query: cOrdersQuery}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := side.Describe(ctx); err != nil {
		t.Fatal(err)
	}
	if err := side.Prepare([]canon.Kind{canon.KindDecimal}); err != nil {
		t.Fatal(err)
	}
	if err := side.PrepareKeys([]canon.Kind{canon.KindInteger}); err != nil {
		t.Fatal(err)
	}
	return func(ctx context.Context, keys []Key) (map[Key][]canon.Value, error) {
		texts := make([]canon.Key, len(keys))
		for i, k := range keys {
			texts[i] = k.Texts()
		}
		rows, err := side.RowsOf(ctx, texts)
		if err != nil {
			return nil, err
		}
		out := map[Key][]canon.Value{}
		for _, r := range rows {
			k, err := KeyOfTexts(r.Tuple, true)
			if err != nil {
				return nil, err
			}
			out[k] = r.Values
		}
		return out, nil
	}
}

// TestQuerySide: legacy orders (one row with a total, from its capture
// events) against a query side summing new's orders and items in a real
// PostgreSQL: any change of either table has the query read again for
// the keys it touches (an item moved between orders: both), and what it
// returns is new's state — a wrong sum differs, its fix resolves, an
// order only new has is missing in legacy, one new deleted is deleted on
// one side.
func TestQuerySide(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	pg := testenv.MustStartPostgres(t)
	pg.Exec(t, "CREATE TABLE c_orders (id bigint PRIMARY KEY, status text NOT NULL)")
	pg.Exec(t, "CREATE TABLE c_items (order_id bigint NOT NULL, line_no int NOT NULL, amount numeric(10,2) NOT NULL, PRIMARY KEY (order_id, line_no))")
	pg.Exec(t, "INSERT INTO c_orders SELECT s, 'open' FROM generate_series(1, 20) s")
	pg.Exec(t, "INSERT INTO c_items SELECT s, l, s * 5 FROM generate_series(1, 20) s, generate_series(1, 2) l")
	pg.Exec(t, "INSERT INTO c_items VALUES (7, 3, 1.00)") // 7: 71 against legacy's 70

	cfg := amountConfig(captureJS(ctx, t), time.Second)
	js := cfg.JS
	cfg.Registerer = prometheus.NewRegistry()
	cfg.New = Side{Stream: "FICUS_CDC_svc", Key: "id", Columns: []string{"total"}, Query: &QuerySide{
		Tables: []QueryTable{{Subject: "ficus.cdc.svc.public.c_orders", KeyFrom: []string{"id"}},
			{Subject: "ficus.cdc.svc.public.c_items", KeyFrom: []string{"order_id"}}},
		Rows: queryRows(ctx, t, pg)}}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(rctx) }()
	defer func() { stop(); _ = <-done }()

	publish := func(subject, format string, args ...any) {
		t.Helper()
		ev := fmt.Sprintf(format, args...)
		ev = ev[:len(ev)-1] + fmt.Sprintf(`,"source":{"ts_ms":%d}}`, time.Now().UnixMilli())
		if _, err := js.Publish(ctx, subject, []byte(ev)); err != nil {
			t.Fatal(err)
		}
	}
	const orders, items = "ficus.cdc.svc.public.c_orders", "ficus.cdc.svc.public.c_items"
	wait := func(what string, ok func(Figures) bool) Figures {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if f := c.Figures(); ok(f) {
				return f
			}
		}
		t.Fatalf("%s: figures never settled: %+v", what, c.Figures())
		return Figures{}
	}
	changes := 0
	for id := 1; id <= 20; id++ {
		publish(c.cfg.Legacy.Subject, `{"op":"r","after":{"id":%d,"amount":"%d.00"},"key":{"id":%d}}`, id, 10*id, id)
		publish(orders, `{"op":"r","after":{"id":%d,"status":"open"},"key":{"id":%d}}`, id, id)
		for l := 1; l <= 2; l++ {
			publish(items, `{"op":"r","after":{"order_id":%d,"line_no":%d,"amount":"%d"},"key":{"order_id":%d,"line_no":%d}}`, id, l, 5*id, id, l)
		}
		changes += 3
	}
	publish(items, `{"op":"c","after":{"order_id":7,"line_no":3,"amount":"1.00"},"key":{"order_id":7,"line_no":3}}`)
	f := wait("initial", func(f Figures) bool { return f.Matched == 19 && f.Differing == 1 })
	if f.QueryReads < 1 || f.Errors != 0 {
		t.Errorf("figures %+v: want at least one query read, no error", f)
	}
	t.Logf("%d query reads for %d changes", f.QueryReads, changes+1)

	// The fix: the extra item deleted.
	pg.Exec(t, "DELETE FROM c_items WHERE order_id = 7 AND line_no = 3")
	publish(items, `{"op":"d","before":{"order_id":7,"line_no":3,"amount":"1.00"},"key":{"order_id":7,"line_no":3}}`)
	wait("fixed", func(f Figures) bool { return f.Matched == 20 && f.Differing == 0 })

	// An item moved from order 8 to order 9: both totals change.
	pg.Exec(t, "UPDATE c_items SET order_id = 9, line_no = 3 WHERE order_id = 8 AND line_no = 2")
	publish(items, `{"op":"u","before":{"order_id":8,"line_no":2,"amount":"40"},"after":{"order_id":9,"line_no":3,"amount":"40"},"key":{"order_id":9,"line_no":3}}`)
	// An order only new has, and one new deleted.
	pg.Exec(t, "INSERT INTO c_orders VALUES (21, 'open')")
	publish(orders, `{"op":"c","after":{"id":21,"status":"open"},"key":{"id":21}}`)
	pg.Exec(t, "DELETE FROM c_items WHERE order_id = 5")
	pg.Exec(t, "DELETE FROM c_orders WHERE id = 5")
	publish(items, `{"op":"d","before":{"order_id":5,"line_no":1,"amount":"25"},"key":{"order_id":5,"line_no":1}}`)
	publish(orders, `{"op":"d","before":{"id":5,"status":"open"},"key":{"id":5}}`)
	f = wait("moved, added, deleted", func(f Figures) bool {
		return f.Differing == 2 && f.MissingInLegacy == 1 && f.DeletedOneSide == 1
	})
	if f.Matched != 17 || f.Errors != 0 {
		t.Errorf("figures %+v: want 17 matched, no error", f)
	}

	cons, err := js.OrderedConsumer(ctx, FindingsStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		m, err := cons.Next(jetstream.FetchMaxWait(time.Second))
		if err != nil {
			break
		}
		var fd Finding
		if err := json.Unmarshal(m.Data(), &fd); err != nil {
			t.Fatal(err)
		}
		s := fmt.Sprintf("%s %s%s", fd.Key, fd.Kind, fd.DeletedIn)
		for _, col := range fd.Columns {
			s += fmt.Sprintf(" %s=%s/%s", col.New, *col.LegacyValue, *col.NewValue)
		}
		got = append(got, s)
	}
	slices.Sort(got)
	want := []string{"21 missing_in_legacy", "5 deleted_on_one_sidenew", "7 differs total=70/71", "7 resolved",
		"8 differs total=80/40", "9 differs total=90/130"}
	if !slices.Equal(got, want) {
		t.Errorf("findings %q, want %q", got, want)
	}
}
