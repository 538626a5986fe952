package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/capture/backfill"
	"github.com/ficus-migrate/ficus/capture/sink"
)

// LSN is the PostgreSQL capture position: the end of a committed transaction.
type LSN pglogrepl.LSN

func (l LSN) String() string { return pglogrepl.LSN(l).String() }

const heartbeatPrefix = "ficus_heartbeat"

// streamer decodes pgoutput for one replication session. It is used by a
// single goroutine.
type streamer struct {
	s       *Source
	repl    *pgconn.PgConn
	meta    *pgx.Conn
	conv    *converter
	sink    *sink.Sink
	rels    map[uint32]*relation
	durable pglogrepl.LSN // last position confirmed to PostgreSQL

	// current transaction
	xid           uint32
	commitLSN     pglogrepl.LSN
	commitLSNText string // commitLSN.String(), once per transaction
	idPrefix      string // "<source>:<commit LSN>:" of message ids
	commitTime    time.Time
	index         int

	windows *backfill.Windows // nil without backfill

	msg rowMsg // reused for every Insert, Update and Delete
	buf []byte // scratch for per-row strings
}

type relation struct {
	msg    *pglogrepl.RelationMessage
	keyIdx []int  // primary key columns (or identity index columns) within msg.Columns
	signal bool   // the backfill signal table: watermarks, not table events
	skip   bool   // not a configured table (one removed from tables:): not published
	name   string // schema.table, for the backfill windows
}

func (s *Source) stream(ctx context.Context, repl *pgconn.PgConn, meta *pgx.Conn, conv *converter,
	pub *sink.Sink, start pglogrepl.LSN) error {
	err := pglogrepl.StartReplication(ctx, repl, s.cfg.Slot, start, pglogrepl.StartReplicationOptions{
		Mode: pglogrepl.LogicalReplication,
		PluginArgs: []string{"proto_version '1'", "publication_names " + quoteLiteral(s.cfg.Publication),
			"messages 'true'"},
	})
	if err != nil {
		return fmt.Errorf("start replication on slot %q: %w", s.cfg.Slot, err)
	}
	s.log.Info("streaming", "slot", s.cfg.Slot, "from", start.String())
	st := &streamer{s: s, repl: repl, meta: meta, conv: conv, sink: pub, rels: map[uint32]*relation{}, durable: start,
		windows: s.cfg.Backfill.Windows()}
	s.cfg.Confirmed.Set(LSN(start))
	err = st.loop(ctx)
	if ctx.Err() != nil {
		st.shutdown(ctx)
		return nil
	}
	return err
}

// shutdown confirms whatever became durable so a restart replays as little as
// possible. It runs after ctx ended, so it uses its own short deadline.
func (st *streamer) shutdown(ctx context.Context) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := st.sink.Flush(fctx); err != nil {
		st.s.log.Warn("not everything published was acknowledged before shutdown", "err", err)
	}
	if err := st.sendStatus(fctx, false); err != nil {
		st.s.log.Warn("final standby status update failed", "err", err)
		return
	}
	st.s.log.Info("stopped", "confirmed_lsn", st.durable.String())
}

func (st *streamer) loop(ctx context.Context) error {
	cfg := st.s.cfg
	now := time.Now()
	nextStatus := now.Add(cfg.StatusInterval)
	nextHeartbeat := now.Add(cfg.HeartbeatInterval)
	for {
		if err := st.sink.Err(); err != nil {
			return err
		}
		now = time.Now()
		if !now.Before(nextStatus) {
			if err := st.sendStatus(ctx, false); err != nil {
				return err
			}
			st.measureLag(ctx)
			nextStatus = now.Add(cfg.StatusInterval)
		}
		if cfg.HeartbeatInterval > 0 && !now.Before(nextHeartbeat) {
			// A transactional message gives an otherwise idle slot a commit to
			// confirm, so it keeps advancing and WAL can be recycled.
			if _, err := st.meta.Exec(ctx, "SELECT pg_logical_emit_message(true, $1, '')", heartbeatPrefix); err != nil {
				return fmt.Errorf("heartbeat: %w", err)
			}
			nextHeartbeat = now.Add(cfg.HeartbeatInterval)
		}
		deadline := nextStatus
		if cfg.HeartbeatInterval > 0 && nextHeartbeat.Before(deadline) {
			deadline = nextHeartbeat
		}
		rctx, cancel := context.WithDeadline(ctx, deadline)
		msg, err := st.repl.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil && (pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded)) {
				continue
			}
			return fmt.Errorf("receive replication message: %w", err)
		}
		switch msg := msg.(type) {
		case *pgproto3.CopyData:
			if err := st.handleCopyData(ctx, msg.Data); err != nil {
				return err
			}
		case *pgproto3.CopyDone, *pgproto3.CommandComplete:
			return errors.New("server ended the replication stream (shutting down?)")
		case *pgproto3.ErrorResponse:
			return fmt.Errorf("replication stream: %w", pgconn.ErrorResponseToPgError(msg))
		default:
			return fmt.Errorf("replication stream: unexpected message %T", msg)
		}
	}
}

func (st *streamer) handleCopyData(ctx context.Context, data []byte) error {
	if len(data) == 0 {
		return errors.New("replication stream: empty CopyData")
	}
	switch data[0] {
	case pglogrepl.PrimaryKeepaliveMessageByteID:
		ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(data[1:])
		if err != nil {
			return fmt.Errorf("parse keepalive: %w", err)
		}
		if ka.ReplyRequested {
			return st.sendStatus(ctx, false)
		}
	case pglogrepl.XLogDataByteID:
		xld, err := pglogrepl.ParseXLogData(data[1:])
		if err != nil {
			return fmt.Errorf("parse XLogData: %w", err)
		}
		return st.handleWAL(ctx, xld)
	}
	return nil
}

// sendStatus reports the durable position as written, flushed and applied:
// PostgreSQL may discard WAL up to it, so it must never run ahead of JetStream.
func (st *streamer) sendStatus(ctx context.Context, reply bool) error {
	if p, ok := st.sink.Durable().(LSN); ok && pglogrepl.LSN(p) > st.durable {
		st.durable = pglogrepl.LSN(p)
	}
	err := pglogrepl.SendStandbyStatusUpdate(ctx, st.repl, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: st.durable, WALFlushPosition: st.durable, WALApplyPosition: st.durable, ReplyRequested: reply,
	})
	if err != nil {
		return fmt.Errorf("send standby status: %w", err)
	}
	st.s.cfg.Confirmed.Set(LSN(st.durable))
	return nil
}

func (st *streamer) measureLag(ctx context.Context) {
	var lag float64
	err := st.meta.QueryRow(ctx, `SELECT COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn), 0)::float8
		FROM pg_replication_slots WHERE slot_name = $1`, st.s.cfg.Slot).Scan(&lag)
	if err != nil {
		st.s.log.Debug("measure slot lag", "err", err)
		return
	}
	st.s.metrics.SlotLagBytes.WithLabelValues(st.s.cfg.Name).Set(lag)
}

func parseMessage(data []byte) (m pglogrepl.Message, err error) {
	// pglogrepl indexes into the buffer without bounds checks; a malformed
	// message must become an error, not a crash.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed pgoutput message: %v", r)
		}
	}()
	return pglogrepl.Parse(data)
}

func (st *streamer) handleWAL(ctx context.Context, xld pglogrepl.XLogData) error {
	if len(xld.WALData) > 0 {
		var op capture.Op
		switch xld.WALData[0] {
		case 'I':
			op = capture.OpCreate
		case 'U':
			op = capture.OpUpdate
		case 'D':
			op = capture.OpDelete
		}
		if op != "" {
			r := &st.msg
			if err := r.decode(xld.WALData); err != nil {
				return fmt.Errorf("decode pgoutput at %s: %w", xld.WALStart, err)
			}
			var nu []tupleCol
			if r.hasNew {
				nu = r.new
			}
			return st.row(ctx, op, r.relID, xld.WALStart, r.oldKind, r.old, nu)
		}
	}
	m, err := parseMessage(xld.WALData)
	if err != nil {
		return fmt.Errorf("decode pgoutput at %s: %w", xld.WALStart, err)
	}
	switch m := m.(type) {
	case *pglogrepl.RelationMessage:
		return st.relation(ctx, m, xld.WALStart)
	case *pglogrepl.BeginMessage:
		st.xid, st.commitLSN, st.commitTime, st.index = m.Xid, m.FinalLSN, m.CommitTime, 0
		st.commitLSNText = m.FinalLSN.String()
		st.idPrefix = st.s.cfg.Name + ":" + st.commitLSNText + ":"
	case *pglogrepl.CommitMessage:
		return st.sink.Mark(ctx, LSN(m.TransactionEndLSN))
	case *pglogrepl.TruncateMessage:
		for _, id := range m.RelationIDs {
			if err := st.row(ctx, capture.OpTruncate, id, xld.WALStart, 0, nil, nil); err != nil {
				return err
			}
		}
	}
	// Type, origin and logical messages (our heartbeats) carry no row change.
	return nil
}
