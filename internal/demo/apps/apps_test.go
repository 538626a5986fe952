package apps

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/internal/testenv"
)

// apps are the shop and the new orders service on real databases.
type apps struct {
	shop, orders *httptest.Server
	shopDB       *sql.DB
	pg           *testenv.Postgres
}

func startApps(t *testing.T) apps {
	t.Helper()
	var pg *testenv.Postgres
	var maria *testenv.MariaDB
	var wg sync.WaitGroup
	wg.Go(func() { pg = testenv.MustStartPostgres(t) })
	wg.Go(func() { maria = testenv.MustStartMariaDB(t) })
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	ctx := context.Background()
	maria.Exec(t, "CREATE DATABASE shop")
	db, err := sql.Open("mysql", fmt.Sprintf("root@tcp(%s:%d)/shop", maria.Host, maria.Port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := ShopSchema(ctx, db, 20); err != nil {
		t.Fatal(err)
	}
	if err := OrdersSchema(ctx, pg.Conn(t)); err != nil {
		t.Fatal(err)
	}
	o, err := NewOrders(ctx, OrdersConfig{DSN: pg.DSN()})
	if err != nil {
		t.Fatal(err)
	}
	a := apps{orders: httptest.NewServer(o.Handler()), shopDB: db, pg: pg}
	t.Cleanup(o.Close)
	t.Cleanup(a.orders.Close)
	a.shop = httptest.NewServer(NewShop(ShopConfig{DB: db, NewService: a.orders.URL}).Handler())
	t.Cleanup(a.shop.Close)
	return a
}

func call(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestShopAndNewServiceAgreeExceptTheBug is what the demo relies on: the shop
// dual-writes every order, both services answer the shop's reads with the
// same bytes, and only discounted orders hit by the rounding bug differ.
func TestShopAndNewServiceAgreeExceptTheBug(t *testing.T) {
	t.Parallel()
	a := startApps(t)
	place := func(body string) Order {
		t.Helper()
		code, out := call(t, http.MethodPost, a.shop.URL+"/api/orders", body)
		if code != http.StatusCreated {
			t.Fatalf("POST /api/orders %s: %d %s", body, code, out)
		}
		var o Order
		if err := json.Unmarshal([]byte(out), &o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	plain := place(`{"customer_id": 3, "items": [{"sku": "TEA-01", "qty": 2}, {"sku": "MUG-02", "qty": 1}]}`)
	lucky := place(`{"customer_id": 3, "items": [{"sku": "JAR-08", "qty": 1}], "coupon": "SAVE10"}`)
	buggy := place(`{"customer_id": 4, "items": [{"sku": "TEA-01", "qty": 1}], "coupon": "SAVE10"}`)
	if plain.Total != 2240 || lucky.Total != 891 || buggy.Total != 446 {
		t.Fatalf("shop totals %s %s %s, want 22.40 8.91 4.46", plain.Total, lucky.Total, buggy.Total)
	}
	if code, out := call(t, http.MethodPost, a.shop.URL+fmt.Sprintf("/api/orders/%d/pay", plain.ID), ""); code != 200 || !strings.Contains(out, `"PAID"`) {
		t.Fatalf("pay: %d %s", code, out)
	}

	for _, tc := range []struct {
		path  string
		equal bool
	}{
		{fmt.Sprintf("/api/orders/%d", plain.ID), true},
		{fmt.Sprintf("/api/orders/%d", lucky.ID), true},
		{fmt.Sprintf("/api/orders/%d", buggy.ID), false},
		{"/api/orders?customer_id=3", true},
		{"/api/orders?customer_id=4", false},
		{"/api/orders?customer_id=5", true}, // no orders: an empty list on both
		{"/api/orders/999", true},           // 404 on both, same body
		{"/api/orders", true},               // 400 on both, same body
		{"/api/orders/x", true},
	} {
		t.Run(tc.path, func(t *testing.T) {
			lc, lb := call(t, http.MethodGet, a.shop.URL+tc.path, "")
			nc, nb := call(t, http.MethodGet, a.orders.URL+tc.path, "")
			if same := lc == nc && lb == nb; same != tc.equal {
				t.Errorf("equal = %v, want %v\nlegacy %d %s\nnew    %d %s", same, tc.equal, lc, lb, nc, nb)
			}
			if !tc.equal && !(strings.Contains(lb, `"total":4.46`) && strings.Contains(nb, `"total":4.45`)) {
				t.Errorf("want totals 4.46 (legacy) and 4.45 (new):\n%s\n%s", lb, nb)
			}
		})
	}

	// The new table holds the shop's ids, cents and its own status names.
	got := a.pg.QueryString(t, `SELECT string_agg(legacy_id || ':' || customer_ref || ':' || total || ':' || state, ',' ORDER BY legacy_id) FROM orders`)
	want := fmt.Sprintf("%d:3:2240:paid,%d:3:891:created,%d:4:445:created", plain.ID, lucky.ID, buggy.ID)
	if got != want {
		t.Errorf("new table: %s, want %s", got, want)
	}
	var amount, status string
	if err := a.shopDB.QueryRow("SELECT amount, status FROM orders WHERE id = ?", buggy.ID).Scan(&amount, &status); err != nil || amount != "4.46" || status != "NEW" {
		t.Errorf("shop row: %s %s %v", amount, status, err)
	}

	for _, tc := range []struct {
		name, body string
		code       int
	}{
		{"unknown customer", `{"customer_id": 999, "items": [{"sku": "TEA-01", "qty": 1}]}`, 422},
		{"unknown sku", `{"customer_id": 1, "items": [{"sku": "NOPE", "qty": 1}]}`, 422},
		{"no items", `{"customer_id": 1, "items": []}`, 422},
		{"unknown coupon", `{"customer_id": 1, "items": [{"sku": "TEA-01", "qty": 1}], "coupon": "FREE"}`, 422},
		{"unknown field", `{"customer_id": 1, "items": [{"sku": "TEA-01", "qty": 1}], "x": 1}`, 400},
	} {
		if code, out := call(t, http.MethodPost, a.shop.URL+"/api/orders", tc.body); code != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.name, code, out, tc.code)
		}
	}
	if code, out := call(t, http.MethodGet, a.shop.URL+"/api/customers/7", ""); code != 200 || !strings.Contains(out, `"id":7`) {
		t.Errorf("customer 7: %d %s", code, out)
	}
	if code, _ := call(t, http.MethodGet, a.shop.URL+"/api/customers/70", ""); code != 404 {
		t.Errorf("customer 70: %d, want 404", code)
	}
}

// TestTrafficKeepsBothSidesInStep drives the shop directly for a moment:
// every order it placed is in both databases and reads never failed.
func TestTrafficKeepsBothSidesInStep(t *testing.T) {
	t.Parallel()
	a := startApps(t)
	tr := NewTraffic(TrafficConfig{BaseURL: a.shop.URL, Customers: 20, Rate: 100, Seed: 1,
		Quiet: 200 * time.Millisecond, Coupons: func() bool { return true }})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	tr.Run(ctx)
	st := tr.Stats()
	if st.Requests < 100 || st.Orders == 0 || st.Paid == 0 || st.Errors != 0 || st.Status5xx != 0 || st.Status4xx != 0 {
		t.Fatalf("traffic: %s", st)
	}
	var legacyN int64
	if err := a.shopDB.QueryRow("SELECT COUNT(*) FROM orders").Scan(&legacyN); err != nil {
		t.Fatal(err)
	}
	newN := a.pg.QueryString(t, "SELECT count(*)::text FROM orders")
	if fmt.Sprint(legacyN) != newN || legacyN != st.Orders {
		t.Errorf("orders: traffic placed %d, shop has %d, new service %s", st.Orders, legacyN, newN)
	}
}
