package config

import (
	"strings"
	"testing"
)

// A query side decodes with its key and columns; ficus validate warns that
// ficus run refuses it, with the query's position.
func TestCompareDataQuerySide(t *testing.T) {
	const yml = `
capture:
  sources:
    - { name: shop, type: mysql, dsn: "app@tcp(127.0.0.1:3306)/shop", server_id: 7 }
    - { name: orders_svc, type: postgres, dsn: "postgres://app@127.0.0.1:5432/orders" }
compare_data:
  - name: totals
    legacy: { source: shop, table: shop.orders, key: [id] }
    new:
      source: orders_svc
      query: >-
        WITH t AS (SELECT order_id, SUM(amount) AS total FROM public.order_items GROUP BY order_id)
        SELECT o.legacy_id, t.total FROM public.orders o JOIN t ON t.order_id = o.id
      key: [legacy_id]
    columns: { total: total }
`
	c, err := LoadBytes("t.yaml", []byte(yml), lookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	n := c.CompareData[0].New
	if n.Table != "" || !strings.HasPrefix(n.Query, "WITH t AS") || !strings.HasSuffix(n.Query, "t.order_id = o.id") || n.Key[0] != "legacy_id" {
		t.Errorf("new side = %+v", n)
	}
	w := c.Warnings()
	if len(w) != 1 || !strings.Contains(w.Error(), "t.yaml:11:7: compare_data[0].new.query") ||
		!strings.Contains(w.Error(), "compared by ficus reconcile only") {
		t.Errorf("warnings: %v", w)
	}
	if strings.Contains(c.Redacted(), "s3cret") || !strings.Contains(c.Redacted(), "SUM(amount)") {
		t.Errorf("the dump:\n%s", c.Redacted())
	}
}

// query_tables and key_from: a table's key column alone or as a list; a
// table not in key_from holds the key under the side's key names. No
// warning: ficus run follows the tables.
func TestCompareDataQueryTables(t *testing.T) {
	const yml = `
capture:
  sources:
    - { name: shop, type: mysql, dsn: "app@tcp(127.0.0.1:3306)/shop", server_id: 7 }
    - { name: orders_svc, type: postgres, dsn: "postgres://app@127.0.0.1:5432/orders" }
compare_data:
  - name: totals
    legacy: { source: shop, table: shop.orders, key: [id] }
    new:
      source: orders_svc
      query: SELECT o.id, SUM(i.amount) AS total FROM public.orders o JOIN public.order_items i ON i.order_id = o.id GROUP BY o.id
      key: [id]
      query_tables: [public.orders, public.order_items, public.refunds]
      key_from: { public.order_items: order_id, public.refunds: [order_ref] }
    columns: { total: total }
`
	c, err := LoadBytes("t.yaml", []byte(yml), lookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	n := c.CompareData[0].New
	if len(n.QueryTables) != 3 || n.QueryTables[1] != "public.order_items" || len(n.KeyFrom) != 2 ||
		n.KeyFrom["public.order_items"][0] != "order_id" || n.KeyFrom["public.refunds"][0] != "order_ref" {
		t.Errorf("new side = %+v", n)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
}
