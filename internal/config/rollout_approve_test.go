package config

import (
	"reflect"
	"strings"
	"testing"
)

// approve_at takes steps, in any order, and keeps them; the dump writes
// the key back.
func TestRolloutApproveAt(t *testing.T) {
	const yml = `
proxy:
  legacy: http://127.0.0.1:3000
  routes:
    - name: orders
      new: http://127.0.0.1:4000
      rollout:
        approve_at: [100, 50]
        steps: [1, 5, 25, 50, 100]
    - name: plain
      new: http://127.0.0.1:4001
      rollout: {steps: [10, 100]}
`
	c, err := LoadBytes("t.yaml", []byte(yml), lookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Proxy.Routes[0].Rollout.ApproveAt; !reflect.DeepEqual(got, []float64{100, 50}) {
		t.Fatalf("approve_at = %v, want [100 50]", got)
	}
	if got := c.Proxy.Routes[1].Rollout.ApproveAt; got != nil {
		t.Fatalf("approve_at without the key = %v, want none", got)
	}
	if dump := c.Redacted(); !strings.Contains(dump, "approve_at:") {
		t.Fatalf("the dump lacks approve_at:\n%s", dump)
	}
}
