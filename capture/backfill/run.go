package backfill

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ficus-migrate/ficus/internal/backoff"
)

// pollEvery is how often an idle driver looks at the queue (a request
// queued here wakes it at once).
const pollEvery = 5 * time.Second

// Run runs the queued backfills with eng until ctx ends; the reader calls it
// in its own goroutine for as long as it streams. A failure of one chunk
// (the database away, a window that timed out) is retried after a pause,
// from the last finished chunk; a request the database refuses for good
// (BadRequestError) is dropped from the queue with its error kept for
// GET /api/capture/{source}.
func (m *Manager) Run(ctx context.Context, eng Engine) {
	m.mu.Lock()
	m.engine = eng
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.engine, m.running = nil, nil
		m.mu.Unlock()
	}()
	b := backoff.New(backoff.Policy{Initial: time.Second, Max: 30 * time.Second, Jitter: 0.5})
	prepared := false
	for ctx.Err() == nil {
		worked, err := m.step(ctx, eng, &prepared)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			prepared = false // the signal table may be what is missing
			wait := b.Next()
			m.log.Warn("backfill interrupted; continuing from the last finished chunk", "err", err, "retry_in", wait)
			if backoff.Wait(ctx, wait) != nil {
				return
			}
		case worked:
			b.Reset()
		default:
			t := time.NewTimer(pollEvery)
			select {
			case <-ctx.Done():
			case <-m.wake:
			case <-t.C:
			}
			t.Stop()
		}
	}
}

// step runs the next chunk of the first queued job; worked is false when
// the queue is empty.
func (m *Manager) step(ctx context.Context, eng Engine, prepared *bool) (worked bool, err error) {
	st, err := m.store(ctx)
	if err != nil {
		return false, err
	}
	q, _, err := st.load(ctx)
	if err != nil || len(q.Jobs) == 0 {
		return false, err
	}
	job := q.Jobs[0]
	res, err := m.runChunk(ctx, eng, prepared, job)
	if err != nil {
		var bad *BadRequestError
		if errors.As(err, &bad) {
			m.log.Error("backfill refused by the database; dropped from the queue", "table", job.Table, "err", err)
			m.mu.Lock()
			m.running = nil
			m.mu.Unlock()
			return true, m.finish(ctx, st, job, err)
		}
		return false, err
	}
	if _, err := st.update(ctx, func(q *queue) error {
		if len(q.Jobs) == 0 || q.Jobs[0].ID != job.ID {
			return errors.New("backfill queue changed under the running job")
		}
		q.Jobs[0] = res.job
		if res.last {
			q.Jobs = q.Jobs[1:]
			q.LastError = ""
		}
		return nil
	}); err != nil {
		return false, err
	}
	m.mu.Lock()
	var perSecond, eta float64
	if m.running != nil {
		m.running.job = res.job
		perSecond, eta = m.running.rate()
	}
	if res.last {
		m.running = nil
	}
	m.mu.Unlock()
	j := res.job
	m.log.Info("backfill chunk", "table", j.Table, "chunk", j.Chunks, "read", res.read, "published", res.emitted,
		"rows", j.Rows, "rows_per_s", int64(perSecond), "eta", (time.Duration(eta) * time.Second).Round(time.Second))
	m.metrics.chunks.WithLabelValues(m.cfg.Source, j.Table).Inc()
	m.metrics.rows.WithLabelValues(m.cfg.Source, j.Table).Add(float64(res.emitted))
	if res.last {
		m.log.Info("backfill done", "table", j.Table, "chunks", j.Chunks, "rows", j.Rows, "read", j.Read,
			"elapsed", time.Since(j.Started).Round(time.Millisecond))
	}
	return true, nil
}

func (m *Manager) runChunk(ctx context.Context, eng Engine, prepared *bool, job Job) (chunkResult, error) {
	if err := m.take(ctx, eng, prepared, job); err != nil {
		return chunkResult{}, err
	}
	return m.chunk(ctx, eng, job)
}

// take makes job the running one of this process, checking it against the
// database when this process had not run it yet.
func (m *Manager) take(ctx context.Context, eng Engine, prepared *bool, job Job) error {
	if !*prepared {
		if err := eng.Prepare(ctx); err != nil {
			return fmt.Errorf("prepare signal table: %w", err)
		}
		*prepared = true
	}
	m.mu.Lock()
	same := m.running != nil && m.running.job.ID == job.ID
	m.mu.Unlock()
	if same {
		return nil
	}
	if err := eng.Check(ctx, job.Request); err != nil {
		return err
	}
	p := &progress{job: job, since: time.Now(), readFrom: job.Read, estimate: eng.Estimate(ctx, job.Table)}
	m.mu.Lock()
	m.running = p
	m.mu.Unlock()
	if job.Last == nil {
		m.log.Info("backfill started", "table", job.Table, "chunk", job.Chunk, "estimated_rows", p.estimate)
	} else {
		m.log.Info("backfill continues after its last finished chunk", "table", job.Table, "chunks", job.Chunks, "rows", job.Rows)
	}
	return nil
}

func (m *Manager) finish(ctx context.Context, st *store, job Job, cause error) error {
	_, err := st.update(ctx, func(q *queue) error {
		if len(q.Jobs) > 0 && q.Jobs[0].ID == job.ID {
			q.Jobs = q.Jobs[1:]
		}
		q.LastError = job.Table + ": " + cause.Error()
		return nil
	})
	return err
}

type chunkResult struct {
	job     Job
	read    int
	emitted int64
	last    bool // the table is read to its end
}

// chunk runs one DBLog window: low watermark, chunk read, high watermark,
// then waits for the reader to publish what is left of the chunk.
func (m *Manager) chunk(ctx context.Context, eng Engine, job Job) (chunkResult, error) {
	// Unique to this attempt: a watermark of the same chunk written by a
	// process killed before it finished is replayed from the log after a
	// restart, and must not open or close this window.
	id := job.ID + "-" + strconv.FormatInt(job.Chunks+1, 10) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	win := m.windows.add(id, job.Table)
	defer m.windows.remove(id)
	if err := eng.Watermark(ctx, Low, id); err != nil {
		return chunkResult{}, fmt.Errorf("low watermark: %w", err)
	}
	m.log.Debug("backfill reading chunk", "table", job.Table, "chunk", job.Chunks+1)
	c, err := eng.Chunk(ctx, job.Request, job.Last)
	if err != nil {
		return chunkResult{}, fmt.Errorf("read chunk %d of %s: %w", job.Chunks+1, job.Table, err)
	}
	m.windows.setChunk(id, c)
	if err := eng.Watermark(ctx, High, id); err != nil {
		return chunkResult{}, fmt.Errorf("high watermark: %w", err)
	}
	t := time.NewTimer(m.cfg.WindowTimeout)
	defer t.Stop()
	slow := time.NewTimer(time.Minute)
	defer slow.Stop()
	for waiting := true; waiting; {
		select {
		case <-win.done:
			waiting = false
		case <-ctx.Done():
			return chunkResult{}, ctx.Err()
		case <-slow.C:
			m.log.Warn("backfill waits for the reader to stream past the chunk's high watermark (is capture lagging?)",
				"table", job.Table, "chunk", job.Chunks+1)
		case <-t.C:
			return chunkResult{}, fmt.Errorf("chunk %d of %s: the reader did not stream past its high watermark within %s",
				job.Chunks+1, job.Table, m.cfg.WindowTimeout)
		}
	}
	if job.Started.IsZero() {
		job.Started = time.Now().UTC()
	}
	job.Chunks++
	job.Read += int64(len(c.Rows))
	job.Rows += win.emitted
	if len(c.Rows) > 0 {
		job.Last = c.Last
	}
	return chunkResult{job: job, read: len(c.Rows), emitted: win.emitted, last: len(c.Rows) < job.Chunk}, nil
}
