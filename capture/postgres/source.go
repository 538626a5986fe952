// Package postgres captures row changes from PostgreSQL through logical
// replication (pgoutput) and publishes them with the capture/sink JetStream sink.
//
// Restart semantics: the replication slot's confirmed_flush_lsn only advances
// to the end of a transaction whose events JetStream has all acknowledged, so
// after any failure streaming resumes at or before the first unpublished event;
// replays carry the same Nats-Msg-Id and are dropped by the stream's duplicate
// window. An initial snapshot interrupted half-way is redone from scratch on a
// fresh slot (its state lives in the checkpoint KV bucket, key
// "<source>.snapshot"); rows re-read unchanged get the same message id and are
// de-duplicated, rows changed in between are published again.
//
// Replica identity: with REPLICA IDENTITY FULL, "before" is the whole old row.
// Otherwise PostgreSQL only sends the identity (key) columns, so "before" holds
// just those. An unchanged TOAST value (a large column the update did not
// touch) is not sent by PostgreSQL: with FULL it is copied from the old row,
// otherwise the column is left out of "after" and named in
// source.unchanged_toast - it is never reported as null.
//
// Duplicates: the duplicate window (at least 10 minutes) must cover the replay
// after a restart. PostgreSQL before 17 does not persist a slot's
// confirmed_flush_lsn on clean shutdown unless other slot fields changed, so a
// server restart may replay up to a checkpoint interval (checkpoint_timeout,
// 5 minutes by default) of changes.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/capture/sink"
)

var _ capture.Source = (*Source)(nil)

// Source is one PostgreSQL CDC source.
type Source struct {
	cfg      Config
	database string
	log      *slog.Logger
	metrics  *capture.Metrics
	warned   map[string]bool // tables already warned about, so retries do not repeat it
	removed  map[string]bool // tables removed from the configuration since the last start (addTables)
	// narrow is set when the publication is FOR ALL TABLES but tables are
	// configured (a source that captured every table before): the reader
	// then publishes only the configured tables and their partitions.
	narrow bool
}

// New validates cfg and prepares a Source; nothing is connected until Run.
func New(cfg Config) (*Source, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, capture.Permanent(err)
	}
	pc, err := pgconn.ParseConfig(cfg.DSN)
	if err != nil {
		// The parse error may quote the DSN, password included: do not wrap it.
		return nil, capture.Permanent(fmt.Errorf("source %q: invalid dsn", cfg.Name))
	}
	m, err := capture.NewMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", cfg.Name, err)
	}
	return &Source{
		cfg:      cfg,
		database: pc.Database,
		log:      cfg.Logger.With("component", "capture.postgres", "source", cfg.Name),
		metrics:  m,
		warned:   map[string]bool{},
	}, nil
}

// Run captures until ctx ends (then returns nil) or a permanent error occurs.
// Transient failures (PostgreSQL or NATS down, publish errors) are retried with
// exponential backoff, resuming from the slot's confirmed position.
func (s *Source) Run(ctx context.Context) error {
	return s.metrics.Run(s.cfg.Name, func() error {
		return capture.RunWithRetry(ctx, s.log, s.cfg.RetryMin, s.cfg.RetryMax, s.runOnce)
	})
}

type snapshotState struct {
	State string `json:"state"` // in_progress | done
	Slot  string `json:"slot"`
	LSN   string `json:"lsn,omitempty"`
}

func (s *Source) snapshotKey() string { return s.cfg.Name + ".snapshot" }

func (s *Source) runOnce(ctx context.Context) error {
	meta, err := s.connect(ctx)
	if err != nil {
		return err
	}
	defer meta.Close(context.WithoutCancel(ctx))
	tables, err := s.checkPrereqs(ctx, meta)
	if err != nil {
		return err
	}
	if err := s.ensurePublication(ctx, meta, tables); err != nil {
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
	repl, err := s.connectReplication(ctx)
	if err != nil {
		return err
	}
	defer repl.Close(context.WithoutCancel(ctx))

	slot, err := s.readSlot(ctx, meta)
	if err != nil {
		return err
	}
	var state snapshotState
	if raw, err := cps.Get(ctx, s.snapshotKey()); err != nil {
		return err
	} else if raw != nil {
		if err := json.Unmarshal(raw, &state); err != nil {
			return fmt.Errorf("decode checkpoint %s: %w", s.snapshotKey(), err)
		}
	}

	conv := newConverter(s.cfg.DecimalHandling == DecimalNumber)
	var start pglogrepl.LSN
	snapshotted := false
	switch {
	case s.cfg.Snapshot == SnapshotInitial && (!slot.exists || state.State != "done" || state.Slot != s.cfg.Slot):
		if slot.exists {
			s.log.Warn("replication slot exists but the initial snapshot never completed; dropping the slot and redoing the snapshot",
				"slot", s.cfg.Slot)
			if err := pglogrepl.DropReplicationSlot(ctx, repl, s.cfg.Slot, pglogrepl.DropReplicationSlotOptions{Wait: true}); err != nil {
				return fmt.Errorf("drop slot %q: %w", s.cfg.Slot, err)
			}
		}
		if err := s.putState(ctx, cps, snapshotState{State: "in_progress", Slot: s.cfg.Slot}); err != nil {
			return err
		}
		res, err := pglogrepl.CreateReplicationSlot(ctx, repl, s.cfg.Slot, "pgoutput",
			pglogrepl.CreateReplicationSlotOptions{Mode: pglogrepl.LogicalReplication, SnapshotAction: "EXPORT_SNAPSHOT"})
		if err != nil {
			return fmt.Errorf("create slot %q: %w", s.cfg.Slot, err)
		}
		if start, err = pglogrepl.ParseLSN(res.ConsistentPoint); err != nil {
			return fmt.Errorf("slot %q consistent point: %w", s.cfg.Slot, err)
		}
		s.log.Info("created replication slot with exported snapshot", "slot", s.cfg.Slot, "consistent_point", start.String())
		if err := s.snapshot(ctx, meta, conv, pub, tables, res.SnapshotName, start); err != nil {
			return err
		}
		if err := pub.Flush(ctx); err != nil {
			return fmt.Errorf("flush snapshot: %w", err)
		}
		if err := s.putState(ctx, cps, snapshotState{State: "done", Slot: s.cfg.Slot, LSN: start.String()}); err != nil {
			return err
		}
		snapshotted = true
	case !slot.exists:
		res, err := pglogrepl.CreateReplicationSlot(ctx, repl, s.cfg.Slot, "pgoutput",
			pglogrepl.CreateReplicationSlotOptions{Mode: pglogrepl.LogicalReplication, SnapshotAction: "NOEXPORT_SNAPSHOT"})
		if err != nil {
			return fmt.Errorf("create slot %q: %w", s.cfg.Slot, err)
		}
		if start, err = pglogrepl.ParseLSN(res.ConsistentPoint); err != nil {
			return fmt.Errorf("slot %q consistent point: %w", s.cfg.Slot, err)
		}
		s.log.Info("created replication slot without snapshot", "slot", s.cfg.Slot, "consistent_point", start.String())
	default:
		start = slot.confirmed
	}
	if err := s.addTables(ctx, meta, cps, tables, snapshotted); err != nil {
		return err
	}
	stop, err := s.runBackfill(ctx, tables)
	if err != nil {
		return err
	}
	defer stop()
	return s.stream(ctx, repl, meta, conv, pub, start)
}

func (s *Source) putState(ctx context.Context, cps *sink.Checkpoints, st snapshotState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode snapshot state: %w", err)
	}
	return cps.Put(ctx, s.snapshotKey(), b)
}

type slotInfo struct {
	exists    bool
	confirmed pglogrepl.LSN
}

func (s *Source) readSlot(ctx context.Context, conn *pgx.Conn) (slotInfo, error) {
	var plugin, db, confirmed string
	var activePID *int32
	err := conn.QueryRow(ctx, `SELECT COALESCE(plugin, ''), COALESCE(database, ''), COALESCE(confirmed_flush_lsn::text, ''), active_pid
		FROM pg_replication_slots WHERE slot_name = $1`, s.cfg.Slot).Scan(&plugin, &db, &confirmed, &activePID)
	if errors.Is(err, pgx.ErrNoRows) {
		return slotInfo{}, nil
	}
	if err != nil {
		return slotInfo{}, fmt.Errorf("read slot %q: %w", s.cfg.Slot, err)
	}
	if plugin != "pgoutput" {
		return slotInfo{}, capture.Permanent(fmt.Errorf("source %q: slot %q exists with plugin %q, want pgoutput", s.cfg.Name, s.cfg.Slot, plugin))
	}
	if db != meta(conn).Database {
		return slotInfo{}, capture.Permanent(fmt.Errorf("source %q: slot %q belongs to database %q", s.cfg.Name, s.cfg.Slot, db))
	}
	if activePID != nil {
		// Typically the walsender of a previous connection that has not noticed
		// it is gone yet; retrying lets wal_sender_timeout clean it up.
		return slotInfo{}, fmt.Errorf("slot %q is in use by server process %d", s.cfg.Slot, *activePID)
	}
	lsn, err := pglogrepl.ParseLSN(confirmed)
	if err != nil {
		return slotInfo{}, fmt.Errorf("slot %q confirmed_flush_lsn %q: %w", s.cfg.Slot, confirmed, err)
	}
	return slotInfo{exists: true, confirmed: lsn}, nil
}

func meta(conn *pgx.Conn) *pgconn.Config { return &conn.Config().Config }

// sessionParams make the text output of values independent of server and
// role defaults, so the converter sees one format.
var sessionParams = map[string]string{
	"TimeZone":           "UTC",
	"DateStyle":          "ISO, YMD",
	"IntervalStyle":      "iso_8601",
	"extra_float_digits": "3",
	"bytea_output":       "hex",
	// money's text follows lc_monetary; C gives [-]$1,234.56 everywhere.
	"lc_monetary": "C",
}

func (s *Source) connect(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(s.cfg.DSN)
	if err != nil {
		// The parse error may quote the DSN, password included: do not wrap it.
		return nil, capture.Permanent(fmt.Errorf("source %q: invalid dsn", s.cfg.Name))
	}
	for k, v := range sessionParams {
		cfg.RuntimeParams[k] = v
	}
	cfg.RuntimeParams["application_name"] = "ficus-" + s.cfg.Name
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect source %q: %w", s.cfg.Name, err)
	}
	return conn, nil
}

func (s *Source) connectReplication(ctx context.Context) (*pgconn.PgConn, error) {
	cfg, err := pgconn.ParseConfig(s.cfg.DSN)
	if err != nil {
		return nil, capture.Permanent(fmt.Errorf("source %q: invalid dsn", s.cfg.Name))
	}
	for k, v := range sessionParams {
		cfg.RuntimeParams[k] = v
	}
	cfg.RuntimeParams["replication"] = "database"
	cfg.RuntimeParams["application_name"] = "ficus-" + s.cfg.Name
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("replication connection for source %q: %w", s.cfg.Name, err)
	}
	return conn, nil
}
