package mirror

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/ficus-migrate/ficus/plugins/api"
	"github.com/ficus-migrate/ficus/shadow/traffic/diff"
)

// Comparator normalizes or judges batches of answer pairs before the diff
// (proxy.routes[].compare.plugin; plugins/host supervises the process).
type Comparator interface {
	Compare(ctx context.Context, pairs []api.Pair) ([]api.Result, error)
}

// pluginBatch bounds one Compare call; pluginQueue the pairs waiting for
// the comparator.
const (
	pluginBatch = 64
	pluginQueue = 4096
)

// pending is a compared pair waiting for the route's comparator.
type pending struct {
	j                 *job
	client            string
	legacy, newA      diff.Answer
	legacyLat, newLat time.Duration
}

// pluginStage feeds a route's comparator in batches on its own goroutine,
// so workers never wait for the plugin. Its queue is bounded: when the
// plugin falls behind, pairs are dropped and counted like a full mirror
// queue.
type pluginStage struct {
	cmp Comparator
	in  chan pending
}

func newPluginStage(c Comparator, queue int) *pluginStage {
	return &pluginStage{cmp: c, in: make(chan pending, max(queue, pluginBatch))}
}

// submit queues p, or reports false when the queue is full.
func (ps *pluginStage) submit(p pending) bool {
	select {
	case ps.in <- p:
		return true
	default:
		return false
	}
}

// runPlugins runs the comparator stages of every route that has one, until
// ctx ends.
func (m *Mirror) runPlugins(ctx context.Context, wg *sync.WaitGroup) {
	for _, rs := range m.routes {
		if rs.plugin == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.runPlugin(ctx, rs.plugin)
		}()
	}
}

func (m *Mirror) runPlugin(ctx context.Context, ps *pluginStage) {
	batch := make([]pending, 0, pluginBatch)
	pairs := make([]api.Pair, 0, pluginBatch)
	for {
		batch = batch[:0]
		select {
		case <-ctx.Done():
			return
		case p := <-ps.in:
			batch = append(batch, p)
		}
	fill: // whatever is already waiting, without waiting for more
		for len(batch) < pluginBatch {
			select {
			case p := <-ps.in:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		pairs = pairs[:0]
		for _, p := range batch {
			pairs = append(pairs, api.Pair{Route: p.j.route.cfg.Name, Method: p.j.method, Path: pathQuery(p.client, p.j.url.RawQuery),
				Legacy: pluginAnswer(p.legacy), New: pluginAnswer(p.newA)})
		}
		res, err := ps.cmp.Compare(ctx, pairs)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			for _, p := range batch {
				p.j.route.metrics.errors.Inc()
				p.j.route.stats.errors.Add(1)
				m.done(p.j)
			}
			m.log.Error("comparator plugin failed; pairs not compared", "pairs", len(batch), "err", err)
			continue
		}
		for i, p := range batch {
			r := res[i]
			legacy, newA := normalized(p.legacy, r.Pair.Legacy), normalized(p.newA, r.Pair.New)
			var out diff.Result
			switch r.Verdict {
			case api.VerdictEqual:
			case api.VerdictDifferent:
				reason, _ := json.Marshal(r.Reason)
				out.Diffs = []diff.Diff{{Path: "plugin", Kind: diff.KindValue, New: reason}}
			default:
				out = p.j.route.cmp.Compare(legacy, newA)
			}
			m.conclude(p.j, p.client, legacy, newA, p.legacyLat, p.newLat, out)
			m.done(p.j)
		}
		clear(batch) // let the answers go
	}
}

func pluginAnswer(a diff.Answer) api.Answer {
	return api.Answer{Status: a.Status, Header: a.Header, Body: a.Body}
}

// normalized is a with the comparator's version of status, headers and
// body. A truncated body is kept: only its full size and hash compare.
func normalized(a diff.Answer, n api.Answer) diff.Answer {
	if n.Status != 0 {
		a.Status = n.Status
	}
	if n.Header != nil {
		a.Header = http.Header(n.Header)
		if ct := a.Header.Get("Content-Type"); ct != "" {
			a.ContentType = ct
		}
	}
	if !a.Truncated {
		a.Body, a.Size, a.Hash = n.Body, 0, [32]byte{}
	}
	return a
}
