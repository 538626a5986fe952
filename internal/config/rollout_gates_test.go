package config

import (
	"strings"
	"testing"
	"time"
)

// The example decodes with its defaults; ${PROM_URL} expands; the
// dump keeps the keys and masks the URLs.
func TestRolloutGates(t *testing.T) {
	const yml = `
proxy:
  legacy: http://127.0.0.1:3000
  routes:
    - name: orders
      new: http://127.0.0.1:4000
      rollout:
        steps: [1, 5, 25, 50, 100]
        gates:
          prometheus: [{name: checkout-errors, url: "${PROM_URL}", query: 'sum(rate(checkout_failed_total[1m]))', max: 0.5}]
          webhook:    [{name: qa-suite, url: "http://qa.internal/check?token=s3cret", timeout: 30s, dry_run: true}]
`
	c, err := LoadBytes("t.yaml", []byte(yml), lookup(map[string]string{"PROM_URL": "http://prom:9090/p/s3cret"}))
	if err != nil {
		t.Fatal(err)
	}
	g := c.Proxy.Routes[0].Rollout.Gates
	if len(g.Prometheus) != 1 || len(g.Webhook) != 1 {
		t.Fatalf("gates = %+v", g)
	}
	p, w := g.Prometheus[0], g.Webhook[0]
	if p.Name != "checkout-errors" || p.URL.Reveal() != "http://prom:9090/p/s3cret" || p.Query != "sum(rate(checkout_failed_total[1m]))" ||
		p.Max == nil || *p.Max != 0.5 || p.Min != nil || p.OnError != GateOnErrorHold || p.Timeout != 10*time.Second || p.DryRun {
		t.Errorf("prometheus gate = %+v", p)
	}
	if w.Name != "qa-suite" || w.Timeout != 30*time.Second || !w.DryRun {
		t.Errorf("webhook gate = %+v", w)
	}
	dump := c.Redacted()
	if strings.Contains(dump, "s3cret") || !strings.Contains(dump, "checkout-errors") || !strings.Contains(dump, "http://qa.internal/REDACTED") {
		t.Errorf("the dump:\n%s", dump)
	}
}

// The data gate and complete_when decode with their defaults: the
// gate is named after its comparison, a run is bounded by 30 minutes.
func TestRolloutDataGateAndCompleteWhen(t *testing.T) {
	const yml = `
capture:
  sources:
    - {name: shop, type: mysql, dsn: "root@tcp(127.0.0.1:3306)/shop", server_id: 7, tables: [shop.orders]}
    - {name: svc, type: postgres, dsn: "postgres://postgres@127.0.0.1:5432/svc", tables: [public.orders]}
compare_data:
  - name: orders
    legacy: {source: shop, table: shop.orders, key: [id]}
    new: {source: svc, table: public.orders, key: [legacy_id]}
    columns: {amount: amount}
proxy:
  legacy: http://127.0.0.1:3000
  routes:
    - name: orders
      new: http://127.0.0.1:4000
      rollout:
        steps: [1, 5, 25, 50, 100]
        gates:
          data: [{compare: orders, max_differ_rate: 0.001, max_missing_rate: 0, max_behind_seconds: 5}]
        complete_when: {reconcile: orders, max_differences: 0}
`
	c, err := LoadBytes("t.yaml", []byte(yml), lookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	ro := c.Proxy.Routes[0].Rollout
	if len(ro.Gates.Data) != 1 {
		t.Fatalf("data gates = %+v", ro.Gates.Data)
	}
	g := ro.Gates.Data[0]
	if g.Name != "orders" || g.Compare != "orders" || g.MaxDifferRate == nil || *g.MaxDifferRate != 0.001 ||
		g.MaxMissingRate == nil || *g.MaxMissingRate != 0 || g.MaxBehindSeconds == nil || *g.MaxBehindSeconds != 5 || g.DryRun {
		t.Errorf("data gate = %+v", g)
	}
	if cw := ro.CompleteWhen; cw == nil || cw.Reconcile != "orders" || cw.MaxDifferences != 0 || cw.Timeout != 30*time.Minute {
		t.Errorf("complete_when = %+v", cw)
	}
}
