package mirror

import (
	"context"
	"slices"
	"time"

	"github.com/ficus-migrate/ficus/shadow/traffic/noise"
	"github.com/ficus-migrate/ficus/shadow/traffic/record"
)

// TallyRecorder is a Recorder that also keeps the routes' tallies
// (record.Recorder does): `ficus report` judges a window's comparisons
// with them, as GET /api/shadow/{route} does, instead of trusting the
// judgement each mismatch record was written with.
type TallyRecorder interface {
	Tally(t record.Tally)
}

// DefaultTallyEvery is how often a changed tally is published.
const DefaultTallyEvery = 5 * time.Second

// snapshot is the route's comparisons so far and the noise known now.
func (rs *routeState) snapshot() noise.Snapshot {
	s := noise.Snapshot{Counts: rs.tally.Counts(), Noise: rs.det.Known()}
	if rs.cfg.SecondLegacy == nil && rs.cfg.NoiseSample <= 0 {
		// Nothing will ever be learnt: every difference is real, and
		// there is no reason to wait for samples that never come.
		s.Noise.Ready, s.Noise.Off = true, true
	}
	return s
}

// Snapshot returns a shadowed route's comparisons by signature since the
// mirror started and the noise known now: the rollout's mismatch gate
// judges them (each time with the newest knowledge).
func (m *Mirror) Snapshot(route string) (noise.Snapshot, bool) {
	rs := m.routes[route]
	if rs == nil {
		return noise.Snapshot{}, false
	}
	return rs.snapshot(), true
}

// publishTallies hands every route's tally to the recorder each
// TallyEvery, when it changed since the last time, until ctx ends. The
// comparisons of a stopped process's last interval are not published.
func (m *Mirror) publishTallies(ctx context.Context) {
	tr, ok := m.cfg.Recorder.(TallyRecorder)
	if !ok {
		return
	}
	type mark struct {
		compared uint64
		ready    bool
		noise    []string
	}
	sent := make(map[string]mark, len(m.routes))
	t := time.NewTicker(m.cfg.TallyEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for name, rs := range m.routes {
			s := rs.snapshot()
			now := mark{compared: s.Compared, ready: s.Noise.Ready, noise: s.Noise.Paths}
			prev, ok := sent[name]
			if !ok && now.compared == 0 ||
				ok && prev.compared == now.compared && prev.ready == now.ready && slices.Equal(prev.noise, now.noise) {
				continue
			}
			sent[name] = now
			tr.Tally(record.Tally{Time: time.Now().UTC(), Instance: m.instance, Started: m.started, Route: name,
				Snapshot: s.Hashed()})
		}
	}
}
