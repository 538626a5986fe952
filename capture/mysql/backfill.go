package mysql

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"
	driver "github.com/go-sql-driver/mysql"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/capture/backfill"
)

// The backfill engine (capture/backfill) of a MySQL/MariaDB source:
// watermarks in the signal table, chunks read by primary key on a
// connection pool of its own (the binlog reader keeps its own).

var _ backfill.Engine = (*backfillEngine)(nil)

type backfillEngine struct {
	s      *Source
	db     *sql.DB
	flavor string
}

// signalTable is the configured signal table as db.table.
func (s *Source) signalTable() string { return s.cfg.SignalTable }

func (s *Source) isSignal(db, table string) bool {
	return s.cfg.Backfill != nil && db+"."+table == s.cfg.SignalTable
}

// addTables queues a backfill of each table added to the configuration
// since the source last started (capture/backfill AddTables): the reader's
// filter (captured) has them already, so their rows arrive as op r while
// their changes stream. A removed table is out of the filter: nothing of it
// is published from the position the reader resumes at.
func (s *Source) addTables(ctx context.Context, cps backfill.Checkpoints, tables []tableRef, snapshotted bool) error {
	if s.cfg.Backfill == nil {
		return nil
	}
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = t.String()
	}
	_, _, err := s.cfg.Backfill.AddTables(ctx, cps, backfill.Start{Tables: names, All: len(s.cfg.Tables) == 0,
		Snapshotted: snapshotted, Backfill: s.cfg.Snapshot == SnapshotInitial})
	return err
}

// runBackfill runs the source's backfill driver beside streaming; the
// returned stop ends it and waits.
func (s *Source) runBackfill(ctx context.Context, srv server) (stop func(), err error) {
	if s.cfg.Backfill == nil {
		return func() {}, nil
	}
	db, err := s.openDB()
	if err != nil {
		return nil, err
	}
	eng := &backfillEngine{s: s, db: db, flavor: srv.flavor}
	bctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.cfg.Backfill.Run(bctx, eng)
	}()
	return func() {
		cancel()
		<-done
		_ = db.Close() // closing; nothing to do about it
	}, nil
}

// table checks that name is captured, is not the signal table and has a
// primary key, which it returns.
func (e *backfillEngine) table(ctx context.Context, name string) (tableRef, []string, error) {
	d, n, err := splitTable(name)
	if err != nil {
		return tableRef{}, nil, backfill.BadRequest(err)
	}
	if !e.s.captured(d, n) || e.s.isSignal(d, n) {
		return tableRef{}, nil, backfill.BadRequest(fmt.Errorf("table %s is not captured by source %q", name, e.s.cfg.Name))
	}
	pk, err := primaryKey(ctx, e.db, d, n)
	if err != nil {
		return tableRef{}, nil, err
	}
	if len(pk) == 0 {
		return tableRef{}, nil, backfill.BadRequest(fmt.Errorf("table %s has no primary key (or does not exist): a backfill reads by key", name))
	}
	return tableRef{DB: d, Name: n}, pk, nil
}

func (e *backfillEngine) Check(ctx context.Context, r backfill.Request) error {
	t, _, err := e.table(ctx, r.Table)
	if err != nil || r.Where == "" {
		return err
	}
	if _, err := e.db.ExecContext(ctx, "EXPLAIN SELECT 1 FROM "+quoteIdent(t.DB)+"."+quoteIdent(t.Name)+" WHERE ("+r.Where+")"); err != nil {
		return refused("where", err)
	}
	return nil
}

// badRequest reports a server error of the request's own making: unknown
// column, table or function, syntax, ambiguous or wrong operands, bad
// values. Anything else (a lock timeout, the server going away) is retried.
func badRequest(number uint16) bool {
	switch number {
	case 1049, 1052, 1054, 1064, 1109, 1146, 1241, 1267, 1271, 1292, 1305, 1366, 1582, 1583, 1584:
		return true
	}
	return false
}

// refused wraps a badRequest error as a BadRequest, which drops the request
// from the queue.
func refused(what string, err error) error {
	var me *driver.MySQLError
	if errors.As(err, &me) && badRequest(me.Number) {
		return backfill.BadRequest(fmt.Errorf("%s: %w", what, err))
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (e *backfillEngine) signalQualified() string {
	d, n, _ := splitTable(e.s.signalTable())
	return quoteIdent(d) + "." + quoteIdent(n)
}

func (e *backfillEngine) Prepare(ctx context.Context) error {
	if _, err := e.db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+e.signalQualified()+
		" (id VARCHAR(64) NOT NULL PRIMARY KEY, type VARCHAR(32) NOT NULL, data VARCHAR(255) NOT NULL)"); err != nil {
		return fmt.Errorf("create signal table %s: %w", e.s.signalTable(), err)
	}
	return nil
}

func (e *backfillEngine) Watermark(ctx context.Context, kind backfill.Kind, id string) error {
	_, err := e.db.ExecContext(ctx, "INSERT INTO "+e.signalQualified()+` (id, type, data) VALUES (?, ?, ?)
		ON DUPLICATE KEY UPDATE type = VALUES(type), data = VALUES(data)`, e.s.cfg.Name, string(kind), id)
	return err
}

func (e *backfillEngine) Estimate(ctx context.Context, name string) int64 {
	d, n, err := splitTable(name)
	if err != nil {
		return 0
	}
	var total int64
	_ = e.db.QueryRowContext(ctx, `SELECT COALESCE(TABLE_ROWS, 0) FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`, d, n).Scan(&total)
	return total
}

func (e *backfillEngine) Chunk(ctx context.Context, r backfill.Request, last []string) (*backfill.Chunk, error) {
	t, pk, err := e.table(ctx, r.Table)
	if err != nil {
		return nil, err
	}
	var jsonCols map[string]bool
	if e.flavor == FlavorMariaDB {
		if jsonCols, err = mariaJSONColumns(ctx, e.db, t.DB, t.Name); err != nil {
			return nil, err
		}
	}
	cols, err := schemaColumns(ctx, e.db, t.DB, t.Name, jsonCols, e.s.opts)
	if err != nil {
		return nil, err
	}
	exprs := make([]string, len(cols))
	for i, col := range cols {
		exprs[i] = quoteIdent(col.Name)
		if col.Kind == kFloat {
			exprs[i] = "(" + exprs[i] + " + 0e0)" // as in the snapshot: exact as a double
		}
	}
	keyIdx := make([]int, len(pk))
	keyExprs := make([]string, len(pk))
	params := make([]string, len(pk))
	for i, k := range pk {
		keyIdx[i] = -1
		for j, col := range cols {
			if col.Name == k {
				keyIdx[i] = j
			}
		}
		if keyIdx[i] < 0 {
			return nil, fmt.Errorf("primary key column %q not among the columns", k)
		}
		keyExprs[i] = quoteIdent(k)
		switch cols[keyIdx[i]].Kind {
		case kDecimal:
			params[i] = "CAST(? AS DECIMAL(65,30))"
		case kBinary:
			params[i] = "UNHEX(?)" // the saved key is hex: KV state is JSON text
		default:
			params[i] = "?"
		}
	}
	order := strings.Join(keyExprs, ", ")
	var conds []string
	var args []any
	if last != nil {
		if len(last) != len(pk) {
			return nil, backfill.BadRequest(fmt.Errorf("saved key has %d columns, %s's key %d", len(last), t, len(pk)))
		}
		conds = append(conds, "("+order+") > ("+strings.Join(params, ", ")+")")
		for _, v := range last {
			args = append(args, v)
		}
	}
	if r.Where != "" {
		conds = append(conds, "("+r.Where+")")
	}
	q := "SELECT " + strings.Join(exprs, ", ") + " FROM " + quoteIdent(t.DB) + "." + quoteIdent(t.Name)
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	q += " ORDER BY " + order + " LIMIT " + strconv.Itoa(r.Chunk)
	rows, err := e.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, refused("read rows", err)
	}
	defer rows.Close()
	raw := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	c := &backfill.Chunk{}
	now := time.Now()
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("read rows: %w", err)
		}
		after := make(capture.Row, len(cols))
		for i := range cols {
			v, err := cols[i].fromText(raw[i])
			if err != nil {
				return nil, fmt.Errorf("column %q: %w", cols[i].Name, err)
			}
			after[i] = capture.Field{Name: cols[i].Name, Value: v}
		}
		key := make(capture.Row, len(keyIdx))
		c.Last = make([]string, len(keyIdx))
		for i, idx := range keyIdx {
			key[i] = after[idx]
			if cols[idx].Kind == kBinary {
				c.Last[i] = hex.EncodeToString(raw[idx])
			} else {
				c.Last[i] = string(raw[idx])
			}
		}
		k, err := backfill.KeyString(r.Table, key)
		if err != nil {
			return nil, err
		}
		c.Rows = append(c.Rows, backfill.Row{Key: k, Change: &capture.Change{
			Op: capture.OpRead, After: after, Key: key,
			Source: capture.SourceMeta{Connector: "mysql", Name: e.s.cfg.Name, DB: t.DB, Schema: t.DB, Table: t.Name,
				Snapshot: true, TsMs: now.UnixMilli()},
		}})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read rows: %w", err)
	}
	return c, nil
}

// signal handles a rows event of the signal table: a watermark of this
// source opens or closes a backfill window; at a high watermark what is left
// of the chunk is published there, in binlog order. The signal table's own
// changes are never published.
func (st *streamer) signal(ctx context.Context, h *replication.EventHeader, ti *tableInfo, e *replication.RowsEvent) error {
	if e.Type() == replication.EnumRowsEventTypeDelete {
		return nil
	}
	step := 1
	if e.Type() == replication.EnumRowsEventTypeUpdate {
		step = 2
	}
	for i := step - 1; i < len(e.Rows); i += step {
		row, err := ti.row(e.Rows[i])
		if err != nil {
			return fmt.Errorf("signal table %s.%s: %w", ti.db, ti.name, err)
		}
		id, _ := row.Get("id")
		kind, _ := row.Get("type")
		data, _ := row.Get("data")
		if fmt.Sprint(id) != st.s.cfg.Name {
			continue // another source's watermark
		}
		emit := st.s.cfg.Backfill.Windows().Signal(backfill.Kind(fmt.Sprint(kind)), fmt.Sprint(data))
		if emit == nil {
			continue
		}
		now := time.Now()
		for _, c := range emit.Rows {
			c.Source.File, c.Source.Pos, c.Source.GTID, c.Source.ServerID = st.file, h.LogPos-h.EventSize, st.tx.gtid, h.ServerID
			c.Time = now
			c.ID = st.msgID()
			if err := st.sink.Publish(ctx, c); err != nil {
				return err
			}
		}
		if err := st.sink.Notify(ctx, emit.Done); err != nil {
			return err
		}
	}
	return nil
}
