package mirror

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/ficus-migrate/ficus/proxy/upstream"
	"github.com/ficus-migrate/ficus/shadow/traffic/diff"
)

// When the mirror falls behind, a worker takes the backlog in batches and
// pipelines the batch's shadow requests on one keep-alive connection
// (HTTP/1.1 pipelining: every request written, then the answers read in
// order). The mirror's cost was mostly one write and two reads per job; a
// batch pays them once, which is what lets it catch up at saturation. A job
// that finds the queue empty goes out alone, exactly as before, so at
// ordinary load nothing changes.

// maxPipeline bounds a batch; linger is how long the collector waits for a
// batch to fill. At a few hundred requests a second and more, batches form
// by themselves; below that a mirror leaves at most linger later, which
// nobody waits for: the client was answered before its job was queued.
const (
	maxPipeline = 16
	linger      = time.Millisecond
)

// collect turns the queue into batches for the workers. When every worker
// is busy it blocks, the queue fills and enqueue drops and counts, as
// before: memory stays bounded.
func (m *Mirror) collect(ctx context.Context, out chan<- []*job) {
	defer close(out)
	timer := time.NewTimer(linger)
	timer.Stop()
	for {
		var batch []*job
		select {
		case <-ctx.Done():
			return
		case j := <-m.jobs:
			batch = make([]*job, 1, maxPipeline)
			batch[0] = j
		}
		timer.Reset(linger)
	fill:
		for len(batch) < maxPipeline {
			select {
			case j := <-m.jobs:
				batch = append(batch, j)
			case <-timer.C:
				break fill
			case <-ctx.Done():
				return
			}
		}
		timer.Stop()
		select {
		case out <- batch:
		case <-ctx.Done():
			return
		}
	}
}

// pipeJob is a job whose shadow request may share a pipelined connection.
type pipeJob struct {
	j            *job
	client, side string
	url          url.URL
	answer       diff.Answer
	latency      time.Duration
	// held is what the answer holds of Config.QueueBytes while it waits
	// for the rest of the batch; dropped: it did not fit.
	held    int64
	dropped bool
}

// processBatch handles the jobs taken together. Those of the first
// pipelinable job's route and shadow host go out pipelined, if that side
// has earned the trust (rawClient); the others one by one.
func (m *Mirror) processBatch(ctx context.Context, batch []*job, pipe []pipeJob) []pipeJob {
	if len(batch) == 1 || m.raw == nil {
		for _, j := range batch {
			m.process(ctx, j)
		}
		return pipe
	}
	pipe = pipe[:0]
	for _, j := range batch {
		client, side, u := m.shadowTarget(j)
		if !pipelinable(j, &u) || (len(pipe) > 0 && (j.route != pipe[0].j.route || u.Host != pipe[0].url.Host)) ||
			(len(pipe) == 0 && !m.raw.trusts(&u)) {
			shadow, lat, err := m.send(ctx, j, u)
			m.compare(ctx, j, client, side, shadow, lat, err)
			continue
		}
		pipe = append(pipe, pipeJob{j: j, client: client, side: side, url: u})
	}
	m.sendPipelined(ctx, pipe)
	clear(pipe) // drop the answers: the slice is reused
	return pipe
}

// pipelinable: body-less safe requests to a plain-http side. Anything with
// a body, or a method that changes state, must never be sent twice, and a
// pipelined request that found its connection closed is sent again. HEAD is
// not pipelined: a side that sends a body with its answer (a common bug)
// would have that body read as the next request's answer.
func pipelinable(j *job, u *url.URL) bool {
	if u.Scheme != "http" || j.body != nil {
		return false
	}
	switch j.method {
	case http.MethodGet, http.MethodOptions:
		return true
	}
	return false
}

// sendPipelined sends pipe's requests on one connection and compares every
// answer; requests the connection did not answer, or whose answers it can
// no longer vouch for (see pipeline), go out again one by one.
func (m *Mirror) sendPipelined(ctx context.Context, pipe []pipeJob) {
	if len(pipe) == 0 {
		return
	}
	rs := pipe[0].j.route
	last := time.Time{}
	answered, err := m.raw.pipeline(ctx, &pipe[0].url, pipe, rs.cfg.Timeout, func(flushed time.Time) { last = flushed },
		func(i int, resp *http.Response) error {
			a, err := m.readAnswer(rs, resp)
			if err != nil {
				return err
			}
			// The side answers a pipeline in order: each answer's own
			// time is what passed since the one before it.
			now := time.Now()
			pipe[i].latency, last = now.Sub(last), now
			// The answer waits for the rest of the batch, within the
			// budget of its job.
			if n := answerBytes(a); m.hold(pipe[i].j, n) {
				pipe[i].answer, pipe[i].held = a, n
			} else {
				pipe[i].dropped = true
			}
			return nil
		})
	var ne net.Error
	expired := ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout())
	for i := range pipe {
		p := &pipe[i]
		// Compared now, the answer is held no longer than any other.
		m.unhold(p.j, p.held)
		switch {
		case i < answered && p.dropped:
			m.drop(rs, dropBytes)
			m.done(p.j)
		case i < answered:
			m.compare(ctx, p.j, p.client, p.side, p.answer, p.latency, nil)
		case expired:
			m.compare(ctx, p.j, p.client, p.side, diff.Answer{}, 0, fmt.Errorf("pipelined shadow request: %w", err))
		default:
			p.answer = diff.Answer{} // not this request's, or not to be trusted
			shadow, lat, err := m.send(ctx, p.j, p.url)
			m.compare(ctx, p.j, p.client, p.side, shadow, lat, err)
		}
	}
}

var (
	// errClosedEarly: the side closed the connection, or made it unfit
	// for more, before answering every pipelined request.
	errClosedEarly = errors.New("connection closed before every pipelined request was answered")
	// errOutOfTurn: the side sent more than the pipeline's answers.
	errOutOfTurn = errors.New("bytes after the last pipelined answer: the answers cannot be matched to their requests")
	// errNotTrusted: the side lost the trust that pipelining needs.
	errNotTrusted = errors.New("shadow side no longer trusted: not pipelined")
)

// pipeline writes every request of pipe on one connection to u's host, then
// reads the answers in order, handing each to read, which consumes its
// body. Each answer has timeout to arrive, as if sent alone: a pipeline is
// served one request after the other. It returns how many answers were
// read and belong to their requests; the rest were not answered, or their
// answers cannot be trusted. It reads nothing from the connection after an
// answer whose framing forbids a body (the body a side may send anyway
// would be read as the next answer) or one that ends the connection.
func (c *rawClient) pipeline(ctx context.Context, u *url.URL, pipe []pipeJob, timeout time.Duration, flushed func(time.Time),
	read func(i int, resp *http.Response) error) (int, error) {
	h := c.host(u)
	if h == nil {
		return 0, errors.New("raw client: not a plain-http URL")
	}
	if !h.trusted() { // distrusted since the batch was formed
		return 0, errNotTrusted
	}
	cn, alone, err := h.get(ctx)
	if err != nil {
		return 0, err
	}
	if alone { // Get has just found another connection unclean
		_ = cn.Close()
		return 0, errNotTrusted
	}
	if err := cn.SetDeadline(time.Now().Add(timeout)); err != nil {
		_ = cn.Close()
		return 0, err
	}
	for i := range pipe {
		writeRequest(cn.W, pipe[i].j.method, &pipe[i].url, pipe[i].j.header, nil, false)
	}
	if err := cn.W.Flush(); err != nil {
		_ = cn.Close()
		return 0, err
	}
	flushed(time.Now())
	for i := range pipe {
		err := ctx.Err()
		if err == nil && i > 0 {
			err = cn.SetDeadline(time.Now().Add(timeout))
		}
		var resp *http.Response
		if err == nil {
			resp, err = c.readFinal(cn, pipe[i].j.method)
		}
		if err == nil {
			err = read(i, resp)
		}
		if err != nil {
			_ = cn.Close()
			return i, err
		}
		if resp.Close || resp.StatusCode == http.StatusSwitchingProtocols || upstream.BodyForbidden(pipe[i].j.method, resp.StatusCode) {
			_ = cn.Close()
			if i+1 < len(pipe) {
				return i + 1, errClosedEarly
			}
			if cn.R.Buffered() > 0 { // after the last answer: sent out of turn
				h.unsolicited("bytes after the last answer of a pipeline")
			}
			return i + 1, nil
		}
	}
	if cn.R.Buffered() > 0 {
		// More answers than requests: one of them answered a request
		// twice, and from then on each answer may be the one before's.
		// Only the first is surely its request's.
		h.unsolicited("bytes after the last answer of a pipeline")
		_ = cn.Close()
		if len(pipe) > 1 {
			return 1, errOutOfTurn
		}
		return 1, nil
	}
	if ctx.Err() != nil || cn.SetDeadline(time.Time{}) != nil {
		_ = cn.Close()
	} else {
		h.put(cn)
	}
	return len(pipe), nil
}
