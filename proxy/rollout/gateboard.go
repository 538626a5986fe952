package rollout

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// GateBoard keeps the latest rollout.gates results of every route as the
// lease holders publish them (in the figures of their events on
// ficus.rollout.<route>), so that any process's admin API can show them,
// not only the lease holder's. A process that starts knows a route's gates
// from its next decision (or next change in what its gates say) on.
type GateBoard struct {
	mu     sync.Mutex
	latest map[string]gateSeen
}

type gateSeen struct {
	res []GateResult
	at  time.Time
}

// NewGateBoard returns an empty board; Run fills it.
func NewGateBoard() *GateBoard { return &GateBoard{latest: map[string]gateSeen{}} }

// Run follows the events until ctx ends.
func (b *GateBoard) Run(ctx context.Context, conn *nats.Conn) error {
	sub, err := conn.Subscribe(SubjectPrefix+"*", func(m *nats.Msg) {
		var ev Event
		if json.Unmarshal(m.Data, &ev) != nil || ev.Figures == nil || len(ev.Figures.Gates) == 0 {
			return
		}
		b.mu.Lock()
		if cur, ok := b.latest[ev.Route]; !ok || !ev.At.Before(cur.at) {
			b.latest[ev.Route] = gateSeen{ev.Figures.Gates, ev.At}
		}
		b.mu.Unlock()
	})
	if err != nil {
		return err
	}
	<-ctx.Done()
	_ = sub.Unsubscribe()
	return nil
}

// Latest returns the route's last published gate results and when.
func (b *GateBoard) Latest(route string) ([]GateResult, time.Time) {
	if b == nil {
		return nil, time.Time{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.latest[route]
	return s.res, s.at
}
