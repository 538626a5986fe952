package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/proxy"
	"github.com/ficus-migrate/ficus/proxy/rollout"
)

// ficus routes list adds a line per rollout gate, with its value and
// threshold, and nothing when no route has gates.
func TestListGates(t *testing.T) {
	at := time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC)
	routes := []proxy.RouteInfo{{Name: "orders"}, {Name: "plain"}}
	var none bytes.Buffer
	if err := listGates(&none, routes, map[string]rollout.StateView{"plain": {Name: "plain"}}); err != nil || none.Len() != 0 {
		t.Fatalf("without gates: %q %v", none.String(), err)
	}
	byName := map[string]rollout.StateView{"orders": {Name: "orders", GatesAt: at, Gates: []rollout.GateResult{
		{Name: "checkout-errors", Kind: "prometheus", Value: 0.7, Threshold: "max 0.5", Verdict: rollout.GateFail, Reason: "0.7 > max 0.5"},
		{Name: "qa-suite", Kind: "webhook", Value: 200, Threshold: "2xx", Verdict: rollout.GatePass, DryRun: true},
	}}}
	var out bytes.Buffer
	if err := listGates(&out, routes, byName); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ROUTE") ||
		strings.Join(strings.Fields(lines[1]), " ") != "orders checkout-errors prometheus fail 0.7 max 0.5 2026-12-07T01:02:03Z 0.7 > max 0.5" ||
		strings.Join(strings.Fields(lines[2]), " ") != "orders qa-suite webhook pass (dry_run) 200 2xx 2026-12-07T01:02:03Z" {
		t.Fatalf("gate lines:\n%s", out.String())
	}
}
