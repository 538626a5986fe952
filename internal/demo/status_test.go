package demo

import (
	"errors"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/internal/admin/client"
	"github.com/ficus-migrate/ficus/proxy/rollout"
	rs "github.com/ficus-migrate/ficus/proxy/routestate"
	"github.com/ficus-migrate/ficus/shadow/data/continuous"
	"github.com/ficus-migrate/ficus/shadow/traffic/mirror"
)

// The status line shows what the admin API gave and says which part this
// ficus does not serve (n/a) or could not answer (?), never a made-up zero.
func TestStatusLine(t *testing.T) {
	plan := &rollout.Plan{Steps: []float64{5, 25, 50, 100}}
	rolling := rollout.StateView{Name: routeName, Plan: plan, State: rs.State{Weight: 25, Step: 1, Phase: rs.PhaseRolling}}
	for _, tc := range []struct {
		name string
		snap snapshot
		want string
	}{
		{"every part", snapshot{
			rollout: rolling,
			shadow:  mirror.Stats{Compared: 200, Matched: 198},
			events:  map[string]float64{"shop": 120, "orders_svc": 119},
			data:    continuous.Figures{Matched: 90, Differing: 3, MissingInNew: 1, Pending: 2},
		}, "[00:12] weight 25% rolling 2/4 | served legacy 300, new 40 | shadow match 99.0% of 200 | cdc events 120 + 119 | data 90 match, 3 differ, 1 missing, 2 pending"},
		{"the data gate's last verdict", snapshot{
			rollout: rollout.StateView{Name: routeName, Plan: plan, State: rolling.State,
				Gates: []rollout.GateResult{{Name: "orders", Kind: "data", Verdict: rollout.GateHold}}},
			events: map[string]float64{"shop": 1, "orders_svc": 1},
		}, "[00:12] weight 25% rolling 2/4 [gates: data orders hold] | served legacy 300, new 40 | shadow match - of 0 | cdc events 1 + 1 | data 0 match, 0 differ, 0 missing, 0 pending"},
		{"rolled back, nothing compared, no data comparison in this build", snapshot{
			rollout: rollout.StateView{Name: routeName, Plan: plan, State: rs.State{Weight: 0, Step: -1, Phase: rs.PhaseRolledBack}},
			events:  map[string]float64{},
			dataErr: &client.StatusError{Method: "GET", Path: "/api/data/orders", Code: 404, Status: "404 Not Found"},
		}, "[00:12] weight 0% rolled_back | served legacy 300, new 40 | shadow match - of 0 | cdc events 0 + 0 | data n/a"},
		{"admin API failing", snapshot{
			rolloutErr: errors.New("connection refused"), shadowErr: errors.New("x"),
			eventsErr: errors.New("x"), dataErr: errors.New("x"),
		}, "[00:12] weight ? | served legacy 300, new 40 | shadow ? | cdc ? | data ?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := statusLine(12*time.Second, tc.snap, [2]int64{300, 40}); got != tc.want {
				t.Errorf("\ngot  %s\nwant %s", got, tc.want)
			}
		})
	}
}
