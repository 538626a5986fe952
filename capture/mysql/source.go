// Package mysql captures row changes from MySQL 8 / MariaDB (10.5+) by reading
// the binary log as a replica (go-mysql's BinlogSyncer) and publishes them
// with the capture/sink JetStream sink, in the same envelope as capture/postgres.
//
// Restart semantics: the position saved in the checkpoint bucket (key
// "<source>.position") is the end of the last transaction whose events
// JetStream has all acknowledged (and ConfirmDelay has passed). Every
// (re)connection resumes there, at a transaction boundary, so the table map
// events preceding the rows are always re-read; replays carry the same
// Nats-Msg-Id and are dropped by the stream's duplicate window. The syncer's
// own reconnect is disabled: it resumes mid-transaction from the last event
// position, where the table maps are missing.
//
// An initial snapshot interrupted half-way leaves no checkpoint and is redone;
// rows re-read unchanged get the same message id and are de-duplicated.
package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/capture/sink"
)

var _ capture.Source = (*Source)(nil)

// Source is one MySQL/MariaDB CDC source.
type Source struct {
	cfg     Config
	conn    *conn
	log     *slog.Logger
	metrics *capture.Metrics
	tables  map[string]bool // configured "db.table"; nil = every table of conn.database
	opts    valueOpts
}

// New validates cfg and prepares a Source; nothing is connected until Run.
func New(cfg Config) (*Source, error) {
	cn, err := cfg.setDefaults()
	if err != nil {
		return nil, capture.Permanent(err)
	}
	m, err := capture.NewMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", cfg.Name, err)
	}
	s := &Source{
		cfg:     cfg,
		conn:    cn,
		log:     cfg.Logger.With("component", "capture.mysql", "source", cfg.Name),
		metrics: m,
		opts: valueOpts{decimalNumber: cfg.DecimalHandling == DecimalNumber,
			tinyintBool: cfg.Tinyint1Handling == Tinyint1Boolean},
	}
	if len(cfg.Tables) > 0 {
		s.tables = map[string]bool{}
		for _, t := range cfg.Tables {
			s.tables[t] = true
		}
	}
	return s, nil
}

// Run captures until ctx ends (then returns nil) or a permanent error occurs.
// Transient failures (server or NATS down, publish errors) are retried with
// exponential backoff, resuming from the saved position.
func (s *Source) Run(ctx context.Context) error {
	return s.metrics.Run(s.cfg.Name, func() error {
		return capture.RunWithRetry(ctx, s.log, s.cfg.RetryMin, s.cfg.RetryMax, s.runOnce)
	})
}

func (s *Source) positionKey() string { return s.cfg.Name + ".position" }

// captured reports whether changes of db.table are published.
func (s *Source) captured(db, table string) bool {
	if s.tables == nil {
		return db == s.conn.database
	}
	return s.tables[db+"."+table]
}

func (s *Source) openDB() (*sql.DB, error) {
	c, err := driver.NewConnector(s.conn.sql)
	if err != nil {
		return nil, capture.Permanent(fmt.Errorf("source %q: invalid dsn", s.cfg.Name))
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(4)
	db.SetConnMaxIdleTime(time.Minute)
	return db, nil
}

func (s *Source) runOnce(ctx context.Context) error {
	db, err := s.openDB()
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("connect source %q: %w", s.cfg.Name, err)
	}
	srv, err := s.checkServer(ctx, db)
	if err != nil {
		return err
	}
	tables, err := s.resolveTables(ctx, db)
	if err != nil {
		return err
	}
	pub, err := sink.New(ctx, sink.Config{
		Conn: s.cfg.NATS, Source: s.cfg.Name, SubjectPrefix: s.cfg.SubjectPrefix, Stream: s.cfg.Stream,
		MaxPending: s.cfg.MaxPending, AckTimeout: s.cfg.AckTimeout, ConfirmDelay: s.cfg.ConfirmDelay,
		Metrics: s.metrics, Logger: s.cfg.Logger, Transform: s.cfg.Transform, Subjects: s.cfg.Subjects,
		Mask: s.cfg.Mask,
	})
	if err != nil {
		return err
	}
	defer pub.Close()
	cps, err := sink.OpenCheckpoints(ctx, pub.JetStream(), s.cfg.CheckpointBucket, s.cfg.Stream.Replicas)
	if err != nil {
		return err
	}
	raw, err := cps.Get(ctx, s.positionKey())
	if err != nil {
		return err
	}
	var pos Position
	snapshotted := false
	switch {
	case raw != nil:
		if pos, err = ParsePosition(raw); err != nil {
			return capture.Permanent(fmt.Errorf("source %q: checkpoint %s: %w", s.cfg.Name, s.positionKey(), err))
		}
		if pos.Flavor != srv.flavor {
			return capture.Permanent(fmt.Errorf("source %q: checkpoint %s was saved from a %s server, this one is %s",
				s.cfg.Name, s.positionKey(), pos.Flavor, srv.flavor))
		}
		s.log.Info("resuming from checkpoint", "position", pos.String())
	case s.cfg.Snapshot == SnapshotInitial:
		if pos, err = s.snapshot(ctx, db, srv, pub, tables); err != nil {
			return err
		}
		if err := pub.Flush(ctx); err != nil {
			return fmt.Errorf("flush snapshot: %w", err)
		}
		if err := s.savePosition(ctx, cps, pos); err != nil {
			return err
		}
		snapshotted = true
	default:
		if pos, err = s.currentPosition(ctx, db, srv); err != nil {
			return err
		}
		// Saved at once: a restart before the first transaction must not
		// skip what was written in between.
		if err := s.savePosition(ctx, cps, pos); err != nil {
			return err
		}
		s.log.Info("starting at the current binlog position without snapshot", "position", pos.String())
	}
	if err := s.addTables(ctx, cps, tables, snapshotted); err != nil {
		return err
	}
	stop, err := s.runBackfill(ctx, srv)
	if err != nil {
		return err
	}
	defer stop()
	return s.stream(ctx, db, srv, pub, cps, pos)
}

func (s *Source) savePosition(ctx context.Context, cps *sink.Checkpoints, pos Position) error {
	b, err := pos.Encode()
	if err != nil {
		return fmt.Errorf("encode position: %w", err)
	}
	return cps.Put(ctx, s.positionKey(), b)
}
