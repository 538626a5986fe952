package backfill

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// Engine is what a reader gives the driver while it streams the source.
type Engine interface {
	// Check refuses a request the database cannot serve: the table is not
	// captured or has no primary key, or the where condition does not run
	// (EXPLAIN). Its errors are BadRequest ones.
	Check(ctx context.Context, r Request) error
	// Prepare creates the signal table if missing and makes sure its
	// changes reach the reader (PostgreSQL: adds it to the publication).
	Prepare(ctx context.Context) error
	// Watermark writes and commits one watermark row (this source, kind,
	// window id) to the signal table.
	Watermark(ctx context.Context, kind Kind, id string) error
	// Chunk reads up to r.Chunk rows of r.Table under r.Where with a key
	// after last (nil: from the first), in key order, without locks.
	Chunk(ctx context.Context, r Request, last []string) (*Chunk, error)
	// Estimate is the table's estimated row count, 0 when unknown.
	Estimate(ctx context.Context, table string) int64
}

// Config configures a source's Manager.
type Config struct {
	Source  string
	Dialect canon.Engine // for the where check before the database sees it
	JS      jetstream.JetStream
	// Bucket [DefaultBucket], Replicas: the KV bucket of the queues.
	Bucket   string
	Replicas int
	// WindowTimeout is how long the driver waits for the reader to stream
	// past a chunk's high watermark before it reads the chunk again [10m]:
	// longer than the reader's lag behind the database can be.
	WindowTimeout time.Duration
	Logger        *slog.Logger
	Registerer    prometheus.Registerer
}

// Manager runs the backfills of one source: the admin API queues them
// (Enqueue), the reader of the process that streams the source runs them
// (Run), and Status tells how far they are.
type Manager struct {
	cfg     Config
	log     *slog.Logger
	windows *Windows
	metrics *metricSet
	wake    chan struct{}

	mu      sync.Mutex
	st      *store
	engine  Engine // set while Run runs
	running *progress
}

// progress is the running job as this process measures it.
type progress struct {
	job      Job
	since    time.Time // when this process took the job up
	readFrom int64     // job.Read then
	estimate int64
}

// New returns the Manager of one source; nothing is connected until used.
func New(cfg Config) (*Manager, error) {
	if cfg.Bucket == "" {
		cfg.Bucket = DefaultBucket
	}
	if cfg.WindowTimeout <= 0 {
		cfg.WindowTimeout = 10 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.JS == nil {
		return nil, errors.New("backfill: JetStream is required")
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Manager{
		cfg: cfg, metrics: m, windows: NewWindows(cfg.Source), wake: make(chan struct{}, 1),
		log: cfg.Logger.With("component", "capture.backfill", "source", cfg.Source),
	}, nil
}

// Windows is what the reader calls at watermarks and row changes.
func (m *Manager) Windows() *Windows {
	if m == nil {
		return nil
	}
	return m.windows
}

func (m *Manager) store(ctx context.Context) (*store, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.st != nil {
		return m.st, nil
	}
	st, err := openStore(ctx, m.cfg.JS, m.cfg.Bucket, m.cfg.Source, m.cfg.Replicas)
	if err != nil {
		return nil, err
	}
	m.st = st
	return st, nil
}

// Enqueue checks r and queues it behind the source's other backfills. Only
// the process streaming the source accepts it (ErrNotActive elsewhere), so
// the check runs against the database it reads.
func (m *Manager) Enqueue(ctx context.Context, r Request) (Job, error) {
	if err := r.Normalize(m.cfg.Dialect); err != nil {
		return Job{}, BadRequest(err)
	}
	m.mu.Lock()
	eng := m.engine
	m.mu.Unlock()
	if eng == nil {
		return Job{}, ErrNotActive
	}
	if err := eng.Check(ctx, r); err != nil {
		return Job{}, err
	}
	st, err := m.store(ctx)
	if err != nil {
		return Job{}, err
	}
	job := Job{ID: strconv.FormatInt(time.Now().UnixNano(), 36), Request: r, Queued: time.Now().UTC()}
	if _, err := st.update(ctx, func(q *queue) error {
		if len(q.Jobs) >= MaxQueued {
			return BadRequest(fmt.Errorf("%d backfills are queued already; wait for some to finish", len(q.Jobs)))
		}
		q.Jobs = append(q.Jobs, job)
		return nil
	}); err != nil {
		return Job{}, err
	}
	m.log.Info("backfill queued", "table", r.Table, "chunk", r.Chunk, "where", r.Where != "", "job", job.ID)
	select {
	case m.wake <- struct{}{}:
	default:
	}
	return job, nil
}

// Status is the backfill section of GET /api/capture/{source}.
type Status struct {
	// State is idle (nothing queued), running (this process reads a
	// table) or queued (jobs wait, and this process does not run them).
	State string `json:"state"`
	// Queued is the jobs waiting behind the running one.
	Queued        int     `json:"queued"`
	Table         string  `json:"table,omitempty"`
	Where         string  `json:"where,omitempty"`
	Chunks        int64   `json:"chunks"`
	Rows          int64   `json:"rows"`
	RowsPerSecond float64 `json:"rows_per_second"`
	// ETASeconds is the time left at the current rate, from the table's
	// estimated size; 0 when unknown.
	ETASeconds float64 `json:"eta_seconds"`
	LastError  string  `json:"last_error,omitempty"`
}

// Status reads the queue and this process's progress.
func (m *Manager) Status(ctx context.Context) (Status, error) {
	st, err := m.store(ctx)
	if err != nil {
		return Status{}, err
	}
	q, _, err := st.load(ctx)
	if err != nil {
		return Status{}, err
	}
	s := Status{State: "idle", LastError: q.LastError}
	if len(q.Jobs) == 0 {
		return s, nil
	}
	j := q.Jobs[0]
	s.State, s.Queued, s.Table, s.Where, s.Chunks, s.Rows = "queued", len(q.Jobs)-1, j.Table, j.Where, j.Chunks, j.Rows
	m.mu.Lock()
	p := m.running
	var live progress
	if p != nil {
		live = *p
	}
	m.mu.Unlock()
	if p != nil && live.job.ID == j.ID {
		s.State = "running"
		s.RowsPerSecond, s.ETASeconds = live.rate()
	}
	return s, nil
}

// rate is the rows read per second since this process took the job up and
// the seconds left at that rate (0 when the size is unknown).
func (p progress) rate() (perSecond, eta float64) {
	el := time.Since(p.since).Seconds()
	if el <= 0 {
		return 0, 0
	}
	perSecond = float64(p.job.Read-p.readFrom) / el
	if perSecond > 0 && p.estimate > p.job.Read {
		eta = float64(p.estimate-p.job.Read) / perSecond
	}
	return perSecond, eta
}
