package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/google/uuid"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/capture/backfill"
	"github.com/ficus-migrate/ficus/capture/sink"
)

// streamer decodes one binlog session. It is used by a single goroutine.
type streamer struct {
	s    *Source
	srv  server
	db   *sql.DB
	sink *sink.Sink
	cps  *sink.Checkpoints

	gtids *gtidSet // executed GTIDs after the last complete transaction; nil without GTIDs
	file  string   // current binlog file
	saved Position // last position written to the checkpoint bucket

	tables   map[uint64]*tableInfo
	jsonCols map[string]map[string]bool // MariaDB JSON columns by "db.table"
	boolCols map[string]map[string]bool // TINYINT(1) columns by "db.table" (tinyint1_handling: boolean)

	windows *backfill.Windows // nil without backfill

	tx txState
}

type txState struct {
	open    bool
	multi   bool   // BEGIN ... COMMIT/XID (else a single statement, e.g. DDL)
	gtid    string // this transaction's GTID, "" without GTIDs
	file    string // where the transaction starts (ids without GTIDs)
	pos     uint32
	time    time.Time
	index   int // next row index within the transaction (message ids)
	serverI uint32
}

type tableInfo struct {
	tm     *replication.TableMapEvent
	db     string
	name   string
	cols   []column
	keyIdx []int
	skip   bool
	signal bool // the backfill signal table: watermarks, not table events
}

func (s *Source) stream(ctx context.Context, db *sql.DB, srv server, pub *sink.Sink, cps *sink.Checkpoints, pos Position) error {
	pw := s.conn.sql.Passwd
	cfg := replication.BinlogSyncerConfig{
		ServerID: s.cfg.ServerID, Flavor: srv.flavor,
		Host: s.conn.host, Port: s.conn.port, User: s.conn.sql.User, Password: pw,
		HeartbeatPeriod: s.cfg.HeartbeatPeriod, ReadTimeout: 3 * s.cfg.HeartbeatPeriod,
		// The library's reconnect resumes mid-transaction without the table
		// maps (or replays): errors end the session and Run resumes from the
		// checkpoint instead.
		MaxReconnectAttempts: 1, DisableRetrySync: true,
		// Events read ahead while the sink applies back-pressure (NATS slow or
		// down): a bound on memory besides MaxPending.
		EventCacheCount: 256,
		Logger:          slog.New(quietHandler{s.log.Handler()}),
	}
	setDecoding(&cfg)
	syncer := replication.NewBinlogSyncer(cfg)
	defer syncer.Close()

	st := &streamer{s: s, srv: srv, db: db, sink: pub, cps: cps, file: pos.File, saved: pos,
		tables: map[uint64]*tableInfo{}, jsonCols: map[string]map[string]bool{},
		boolCols: map[string]map[string]bool{}, windows: s.cfg.Backfill.Windows()}
	s.cfg.Confirmed.Set(pos)
	var bs *replication.BinlogStreamer
	var err error
	if pos.GTID != "" || (srv.flavor == FlavorMariaDB && pos.File == "") {
		if st.gtids, err = newGTIDSet(srv.flavor, pos.GTID); err != nil {
			return capture.Permanent(err)
		}
		bs, err = syncer.StartSyncGTID(st.gtids.set.Clone())
	} else {
		bs, err = syncer.StartSync(gomysql.Position{Name: pos.File, Pos: pos.Pos})
	}
	if err != nil {
		return fmt.Errorf("start binlog stream at %s: %w", pos, err)
	}
	s.log.Info("streaming", "from", pos.String(), "flavor", srv.flavor, "server", srv.version)
	err = st.loop(ctx, bs)
	if ctx.Err() != nil {
		st.shutdown(ctx)
		return nil
	}
	return err
}

// setDecoding sets how go-mysql renders row values, which convert.go
// expects; the binlog fixture tests parse with the same settings.
func setDecoding(c *replication.BinlogSyncerConfig) {
	c.UseDecimal, c.ParseTime, c.TimestampStringLocation = true, false, time.UTC
}

// shutdown saves whatever became durable so a restart replays as little as
// possible. It runs after ctx ended, so it uses its own short deadline.
func (st *streamer) shutdown(ctx context.Context) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := st.sink.Flush(fctx); err != nil {
		st.s.log.Warn("not everything published was acknowledged before shutdown", "err", err)
	}
	if err := st.checkpoint(fctx); err != nil {
		st.s.log.Warn("final checkpoint failed", "err", err)
		return
	}
	st.s.log.Info("stopped", "position", st.saved.String())
}

func (st *streamer) checkpoint(ctx context.Context) error {
	p, ok := st.sink.Durable().(Position)
	if !ok || p == st.saved {
		return nil
	}
	if err := st.s.savePosition(ctx, st.cps, p); err != nil {
		return err
	}
	st.saved = p
	st.s.cfg.Confirmed.Set(p)
	return nil
}

func (st *streamer) loop(ctx context.Context, bs *replication.BinlogStreamer) error {
	interval := st.s.cfg.CheckpointInterval
	next := time.Now().Add(interval)
	for {
		if err := st.sink.Err(); err != nil {
			return err
		}
		if now := time.Now(); !now.Before(next) {
			if err := st.checkpoint(ctx); err != nil {
				return err
			}
			next = now.Add(interval)
		}
		ectx, cancel := context.WithDeadline(ctx, next)
		ev, err := bs.GetEvent(ectx)
		cancel()
		if err != nil {
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				continue
			}
			return classify(err)
		}
		if err := st.handle(ctx, ev); err != nil {
			return err
		}
	}
}

// classify marks errors that reconnecting cannot fix as permanent.
func classify(err error) error {
	var me *gomysql.MyError
	if errors.As(err, &me) && me.Code == gomysql.ER_MASTER_FATAL_ERROR_READING_BINLOG ||
		strings.Contains(err.Error(), "ERROR 1236") {
		return capture.Permanent(fmt.Errorf("the server cannot send the binlog from the saved position "+
			"(purged binlog or unknown GTID?); a new snapshot is needed: %w", err))
	}
	return fmt.Errorf("read binlog: %w", err)
}

func (st *streamer) handle(ctx context.Context, ev *replication.BinlogEvent) error {
	h := ev.Header
	if h.Timestamp > 0 && h.EventType != replication.ROTATE_EVENT {
		st.s.metrics.LagSeconds.WithLabelValues(st.s.cfg.Name).Set(max(0, time.Since(time.Unix(int64(h.Timestamp), 0)).Seconds()))
	}
	switch e := ev.Event.(type) {
	case *replication.RotateEvent:
		st.file = string(e.NextLogName)
	case *replication.HeartbeatEvent:
		st.s.metrics.LagSeconds.WithLabelValues(st.s.cfg.Name).Set(0) // sent only when caught up
	case *replication.MariadbGTIDEvent:
		st.begin(h, e.GTID.String(), !e.IsStandalone())
	case *replication.GTIDEvent:
		st.begin(h, mysqlGTID(e.SID, e.Tag.String(), e.GNO), false)
		if ts := e.ImmediateCommitTimestamp; ts > 0 {
			st.tx.time = time.UnixMicro(int64(ts))
		}
	case *replication.GtidTaggedLogEvent:
		st.begin(h, mysqlGTID(e.SID, e.Tag.String(), e.GNO), false)
	case *replication.QueryEvent:
		return st.query(ctx, h, e)
	case *replication.XIDEvent:
		return st.end(ctx, h)
	case *replication.RowsEvent:
		return st.rows(ctx, h, ev.Header.EventType, e)
	case *replication.TransactionPayloadEvent:
		// MySQL binlog_transaction_compression: the transaction's events inside.
		for _, inner := range e.Events {
			if err := st.handle(ctx, inner); err != nil {
				return err
			}
		}
	}
	return nil
}

func mysqlGTID(sid []byte, tag string, gno int64) string {
	u, err := uuid.FromBytes(sid)
	if err != nil || u == uuid.Nil {
		return "" // anonymous transaction (gtid_mode OFF)
	}
	if tag != "" {
		return u.String() + ":" + tag + ":" + strconv.FormatInt(gno, 10)
	}
	return u.String() + ":" + strconv.FormatInt(gno, 10)
}

// begin starts a transaction at a GTID event (or a BEGIN without one).
func (st *streamer) begin(h *replication.EventHeader, gtid string, multi bool) {
	st.tx = txState{open: true, multi: multi, gtid: gtid, file: st.file, pos: h.LogPos - h.EventSize,
		time: time.Unix(int64(h.Timestamp), 0), serverI: h.ServerID}
}

// end marks the transaction's end position; it becomes the checkpoint once
// every event before it is acknowledged.
func (st *streamer) end(ctx context.Context, h *replication.EventHeader) error {
	if st.tx.gtid != "" && st.gtids != nil {
		if err := st.gtids.add(st.tx.gtid); err != nil {
			return fmt.Errorf("track gtid %s: %w", st.tx.gtid, err)
		}
	}
	st.tx.open = false
	p := Position{Flavor: st.srv.flavor, File: st.file, Pos: h.LogPos}
	if st.gtids != nil {
		p.GTID = st.gtids.String()
	}
	return st.sink.Mark(ctx, p)
}

func (st *streamer) query(ctx context.Context, h *replication.EventHeader, e *replication.QueryEvent) error {
	q := strings.TrimSpace(string(e.Query))
	switch strings.ToUpper(q) {
	case "BEGIN":
		if !st.tx.open {
			st.begin(h, "", true)
		}
		st.tx.multi = true
		return nil
	case "COMMIT":
		return st.end(ctx, h) // non-transactional engines end with COMMIT instead of XID
	}
	if !st.tx.open {
		st.begin(h, "", false)
	}
	if err := st.ddl(ctx, h, string(e.Schema), q); err != nil {
		return err
	}
	if st.tx.multi {
		return nil
	}
	return st.end(ctx, h)
}

// msgID is (transaction GTID or start file:pos, row index).
func (st *streamer) msgID() string {
	id := st.s.cfg.Name + ":"
	if st.tx.gtid != "" {
		id += st.tx.gtid
	} else {
		id += st.tx.file + ":" + strconv.FormatUint(uint64(st.tx.pos), 10)
	}
	id += ":" + strconv.Itoa(st.tx.index)
	st.tx.index++
	return id
}

func (st *streamer) meta(h *replication.EventHeader, db, table string) capture.SourceMeta {
	return capture.SourceMeta{
		Connector: "mysql", Name: st.s.cfg.Name, DB: db, Schema: db, Table: table,
		TsMs: st.tx.time.UnixMilli(), File: st.file, Pos: h.LogPos - h.EventSize, GTID: st.tx.gtid, ServerID: h.ServerID,
	}
}

// quietHandler passes on only the library's warnings and errors.
type quietHandler struct{ slog.Handler }

func (q quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && q.Handler.Enabled(ctx, l)
}

func (q quietHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return quietHandler{q.Handler.WithAttrs(a)}
}
func (q quietHandler) WithGroup(n string) slog.Handler { return quietHandler{q.Handler.WithGroup(n)} }
