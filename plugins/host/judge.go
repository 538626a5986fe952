package host

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// Defaults used when the corresponding JudgeConfig field is zero.
const (
	DefaultJudgeMaxBatch    = 256
	DefaultJudgeMaxWait     = 5 * time.Millisecond
	DefaultJudgeMaxQueue    = 4096
	DefaultJudgeMaxInFlight = 2
)

// JudgeConfig bounds a Judge's batching.
type JudgeConfig struct {
	// MaxBatch bounds the pairs of one call to the plugin [256]. A caller's
	// own batch of at least this many is sent by itself, in parts of
	// MaxBatch, without waiting in the queue.
	MaxBatch int
	// MaxWait is how long a question waits for others to share its call
	// [5ms]: the price of batching when differences trickle in.
	MaxWait time.Duration
	// MaxQueue bounds the pairs waiting for a call [4096]; a question that
	// does not fit is refused at once with ErrQueueFull.
	MaxQueue int
	// MaxInFlight bounds the calls to the plugin at once [2]; while all
	// are busy, questions wait in the queue (and so form larger batches).
	MaxInFlight int
}

// ErrQueueFull is wrapped by Judge's error when the queue has no room: the
// plugin answers more slowly than the differences come.
var ErrQueueFull = errors.New("row comparison queue full")

// Judge is canon.Judge on top of a plugin's RowComparator. The continuous
// comparison asks about one key at a time from many goroutines; Judge
// coalesces the questions that come within MaxWait of each other into one
// call (per comparison and columns), and hands each caller its own
// answers. Calls go through the plugin's supervisor: a crash or a timeout
// restarts the process and retries the batch.
//
// A caller whose ctx ends gets ctx's error at once, but a batch already
// sent may still read its pairs: they must not be changed afterwards.
type Judge struct {
	p   *Plugin
	cfg JudgeConfig
	sem chan struct{} // one token per call in flight

	mu     sync.Mutex
	queue  []*question
	queued int         // pairs in queue
	timer  *time.Timer // armed for the oldest question's MaxWait
}

var _ canon.Judge = (*Judge)(nil)

// question is one caller's pairs, waiting for a batch.
type question struct {
	ctx                       context.Context
	group                     string // comparison and columns: what may share a call
	comparison                string
	legacyColumns, newColumns []string
	pairs                     []canon.RowPair
	at                        time.Time
	done                      chan answer // buffered: the sender never waits for a caller gone
}

type answer struct {
	js  []canon.Judgement
	err error
}

// NewJudge returns a Judge asking p.
func NewJudge(p *Plugin, cfg JudgeConfig) *Judge {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultJudgeMaxBatch
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = DefaultJudgeMaxWait
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = DefaultJudgeMaxQueue
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultJudgeMaxInFlight
	}
	return &Judge{p: p, cfg: cfg, sem: make(chan struct{}, cfg.MaxInFlight)}
}

// Judge returns one Judgement per pair, in order (see canon.Judge).
func (j *Judge) Judge(ctx context.Context, comparison string, legacyColumns, newColumns []string,
	pairs []canon.RowPair) ([]canon.Judgement, error) {
	if len(legacyColumns) != len(newColumns) {
		return nil, fmt.Errorf("judge %s: %d legacy columns, %d new columns", comparison, len(legacyColumns), len(newColumns))
	}
	for _, p := range pairs {
		// A plugin indexes values by column: a short row would crash it.
		if len(p.Legacy) != len(legacyColumns) || len(p.New) != len(newColumns) {
			return nil, fmt.Errorf("judge %s: key %s has %d legacy and %d new values for %d columns",
				comparison, p.Key, len(p.Legacy), len(p.New), len(legacyColumns))
		}
	}
	if len(pairs) == 0 {
		return []canon.Judgement{}, nil
	}
	if len(pairs) >= j.cfg.MaxBatch {
		return j.direct(ctx, comparison, legacyColumns, newColumns, pairs)
	}
	q := &question{ctx: ctx, comparison: comparison, legacyColumns: legacyColumns, newColumns: newColumns,
		pairs: pairs, at: time.Now(), done: make(chan answer, 1),
		group: comparison + "\x00" + strings.Join(legacyColumns, "\x00") + "\x01" + strings.Join(newColumns, "\x00")}
	j.mu.Lock()
	if j.queued+len(pairs) > j.cfg.MaxQueue {
		j.dropGone()
	}
	if j.queued+len(pairs) > j.cfg.MaxQueue {
		n := j.queued
		j.mu.Unlock()
		j.p.met.rowQueueFull.Inc()
		return nil, fmt.Errorf("plugin %s: %w: %d pairs wait already (max %d)", j.p.cfg.Name, ErrQueueFull, n, j.cfg.MaxQueue)
	}
	j.queue = append(j.queue, q)
	j.queued += len(pairs)
	j.kick()
	j.mu.Unlock()
	select {
	case a := <-q.done:
		return a.js, a.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// direct sends a caller's own large batch in parts, sharing the in-flight
// bound with the queue's batches.
func (j *Judge) direct(ctx context.Context, comparison string, legacyColumns, newColumns []string,
	pairs []canon.RowPair) ([]canon.Judgement, error) {
	out := make([]canon.Judgement, 0, len(pairs))
	for start := 0; start < len(pairs); start += j.cfg.MaxBatch {
		select {
		case j.sem <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		js, err := j.call(ctx, comparison, legacyColumns, newColumns, pairs[start:min(start+j.cfg.MaxBatch, len(pairs))])
		j.release()
		if err != nil {
			return nil, err
		}
		out = append(out, js...)
	}
	return out, nil
}

func (j *Judge) call(ctx context.Context, comparison string, legacyColumns, newColumns []string,
	pairs []canon.RowPair) ([]canon.Judgement, error) {
	j.p.met.rowBatch.Observe(float64(len(pairs)))
	js, err := j.p.RowComparator().CompareRows(ctx, comparison, legacyColumns, newColumns, pairs)
	if err != nil {
		return nil, fmt.Errorf("compare_data %s: row comparator: %w", comparison, err)
	}
	return js, nil
}

// kick sends what is due while calls are free: a full batch at once, a
// smaller one once its oldest question has waited MaxWait. j.mu is held.
func (j *Judge) kick() {
	defer func() { j.p.met.rowQueued.Set(float64(j.queued)) }()
	for len(j.queue) > 0 {
		if wait := j.cfg.MaxWait - time.Since(j.queue[0].at); j.queued < j.cfg.MaxBatch && wait > 0 {
			if j.timer == nil {
				j.timer = time.AfterFunc(wait, j.onTimer)
			}
			return
		}
		select {
		case j.sem <- struct{}{}:
		default:
			return // the call that finishes kicks again
		}
		batch := j.take()
		if len(batch) == 0 { // all their callers had gone
			<-j.sem
			continue
		}
		go j.send(batch)
	}
}

func (j *Judge) onTimer() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.timer = nil
	j.kick()
}

// release frees a call's token and sends what waited for it.
func (j *Judge) release() {
	<-j.sem
	j.mu.Lock()
	defer j.mu.Unlock()
	j.kick()
}

// take removes the next batch from the queue: the oldest question and
// those after it of the same group, up to MaxBatch pairs. Questions whose
// callers have gone are dropped. j.mu is held.
func (j *Judge) take() []*question {
	j.dropGone()
	var batch []*question
	n := 0
	rest := j.queue[:0]
	for _, q := range j.queue {
		switch {
		case (len(batch) == 0 || q.group == batch[0].group) && n+len(q.pairs) <= j.cfg.MaxBatch:
			batch = append(batch, q)
			n += len(q.pairs)
			j.queued -= len(q.pairs)
		default:
			rest = append(rest, q)
		}
	}
	clear(j.queue[len(rest):])
	j.queue = rest
	return batch
}

// dropGone removes the questions whose callers have gone, so that they do
// not hold the room of a full queue while a call hangs. j.mu is held.
func (j *Judge) dropGone() {
	rest := j.queue[:0]
	for _, q := range j.queue {
		if q.ctx.Err() != nil {
			j.queued -= len(q.pairs)
		} else {
			rest = append(rest, q)
		}
	}
	clear(j.queue[len(rest):])
	j.queue = rest
	j.p.met.rowQueued.Set(float64(j.queued))
}

// send makes one call for batch and fans the answers out. The call runs
// until it is answered or every caller in it has gone.
func (j *Judge) send(batch []*question) {
	defer j.release()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var waiting atomic.Int64
	waiting.Store(int64(len(batch)))
	stops := make([]func() bool, len(batch))
	for i, q := range batch {
		stops[i] = context.AfterFunc(q.ctx, func() {
			if waiting.Add(-1) == 0 {
				cancel()
			}
		})
	}
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	pairs := batch[0].pairs
	if len(batch) > 1 {
		pairs = make([]canon.RowPair, 0, j.cfg.MaxBatch)
		for _, q := range batch {
			pairs = append(pairs, q.pairs...)
		}
	}
	first := batch[0]
	js, err := j.call(ctx, first.comparison, first.legacyColumns, first.newColumns, pairs)
	off := 0
	for _, q := range batch {
		if err != nil {
			q.done <- answer{err: err}
			continue
		}
		n := len(q.pairs)
		q.done <- answer{js: js[off : off+n : off+n]}
		off += n
	}
}
