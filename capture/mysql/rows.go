package mysql

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/ficus-migrate/ficus/capture"
)

// table returns the decoded shape of a rows event's table. A new table map
// arrives with every transaction (and after every DDL), so the shape always
// matches the event, whatever the table looks like today.
func (st *streamer) table(ctx context.Context, tm *replication.TableMapEvent) (*tableInfo, error) {
	if ti, ok := st.tables[tm.TableID]; ok && ti.tm == tm {
		return ti, nil
	}
	ti := &tableInfo{tm: tm, db: string(tm.Schema), name: string(tm.Table)}
	st.tables[tm.TableID] = ti
	ti.signal = st.s.isSignal(ti.db, ti.name)
	if !ti.signal && !st.s.captured(ti.db, ti.name) {
		ti.skip = true
		return ti, nil
	}
	var jsonCols map[string]bool
	if st.srv.flavor == FlavorMariaDB {
		key := ti.db + "." + ti.name
		var ok bool
		if jsonCols, ok = st.jsonCols[key]; !ok {
			var err error
			if jsonCols, err = mariaJSONColumns(ctx, st.db, ti.db, ti.name); err != nil {
				return nil, err
			}
			st.jsonCols[key] = jsonCols
		}
	}
	var boolCols map[string]bool
	if st.s.opts.tinyintBool {
		key := ti.db + "." + ti.name
		var ok bool
		if boolCols, ok = st.boolCols[key]; !ok {
			var err error
			if boolCols, err = tinyint1Columns(ctx, st.db, ti.db, ti.name); err != nil {
				return nil, err
			}
			st.boolCols[key] = boolCols
		}
	}
	cols, err := tableMapColumns(tm, jsonCols, boolCols, st.s.opts)
	if err != nil {
		return nil, capture.Permanent(fmt.Errorf("source %q: table map of %s.%s at %s:%d: %w",
			st.s.cfg.Name, ti.db, ti.name, st.file, st.tx.pos, err))
	}
	ti.cols = cols
	for _, k := range tm.PrimaryKey {
		if int(k) < len(cols) {
			ti.keyIdx = append(ti.keyIdx, int(k))
		}
	}
	return ti, nil
}

func (st *streamer) rows(ctx context.Context, h *replication.EventHeader, typ replication.EventType, e *replication.RowsEvent) error {
	ti, err := st.table(ctx, e.Table)
	if err != nil || ti.skip {
		return err
	}
	if ti.signal {
		return st.signal(ctx, h, ti, e)
	}
	if !st.tx.open {
		st.begin(h, "", true)
	}
	var op capture.Op
	switch e.Type() {
	case replication.EnumRowsEventTypeInsert:
		op = capture.OpCreate
	case replication.EnumRowsEventTypeUpdate:
		op = capture.OpUpdate
	case replication.EnumRowsEventTypeDelete:
		op = capture.OpDelete
	default:
		return capture.Permanent(fmt.Errorf("source %q: %s.%s: unsupported rows event %s (partial JSON updates need binlog_row_value_options='')",
			st.s.cfg.Name, ti.db, ti.name, typ))
	}
	for _, skipped := range e.SkippedColumns {
		if len(skipped) > 0 {
			return capture.Permanent(fmt.Errorf("source %q: %s.%s: row image at %s:%d lacks columns: it was written with binlog_row_image other than FULL",
				st.s.cfg.Name, ti.db, ti.name, st.file, h.LogPos-h.EventSize))
		}
	}
	step := 1
	if op == capture.OpUpdate {
		step = 2
	}
	for i := 0; i+step <= len(e.Rows); i += step {
		c := &capture.Change{Op: op, Source: st.meta(h, ti.db, ti.name), Time: time.Now()}
		switch op {
		case capture.OpCreate:
			c.After, err = ti.row(e.Rows[i])
		case capture.OpDelete:
			c.Before, err = ti.row(e.Rows[i])
		case capture.OpUpdate:
			if c.Before, err = ti.row(e.Rows[i]); err == nil {
				c.After, err = ti.row(e.Rows[i+1])
			}
		}
		if err != nil {
			return capture.Permanent(fmt.Errorf("source %q: %s.%s at %s:%d: %w", st.s.cfg.Name, ti.db, ti.name, st.file, h.LogPos-h.EventSize, err))
		}
		keyFrom := c.After
		if op == capture.OpDelete {
			keyFrom = c.Before
		}
		for _, k := range ti.keyIdx {
			c.Key = append(c.Key, keyFrom[k])
		}
		if st.windows != nil {
			st.windows.Changed(ti.db+"."+ti.name, c.Key)
			if op == capture.OpUpdate {
				// An update of the key itself also removes the old key.
				old := make(capture.Row, 0, len(ti.keyIdx))
				for _, k := range ti.keyIdx {
					old = append(old, c.Before[k])
				}
				st.windows.Changed(ti.db+"."+ti.name, old)
			}
		}
		c.ID = st.msgID()
		if err := st.sink.Publish(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

func (ti *tableInfo) row(vals []any) (capture.Row, error) {
	if len(vals) != len(ti.cols) {
		return nil, fmt.Errorf("row has %d values, table map %d columns", len(vals), len(ti.cols))
	}
	row := make(capture.Row, len(vals))
	for i, v := range vals {
		out, err := ti.cols[i].fromBinlog(v)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", ti.cols[i].Name, err)
		}
		row[i] = capture.Field{Name: ti.cols[i].Name, Value: out}
	}
	return row, nil
}

var (
	ddlRE      = regexp.MustCompile(`(?is)^(?:/\*.*?\*/\s*)*(CREATE|ALTER|DROP|RENAME|TRUNCATE)\b`)
	dmlRE      = regexp.MustCompile(`(?is)^(?:/\*.*?\*/\s*)*(INSERT|UPDATE|DELETE|REPLACE|LOAD)\b`)
	truncateRE = regexp.MustCompile("(?is)^TRUNCATE\\s+(?:TABLE\\s+)?(?:(`(?:[^`]|``)+`|[^\\s.`;]+)\\.)?(`(?:[^`]|``)+`|[^\\s.`;]+)\\s*;?\\s*$")
)

func unquote(id string) string {
	if strings.HasPrefix(id, "`") && strings.HasSuffix(id, "`") && len(id) >= 2 {
		return strings.ReplaceAll(id[1:len(id)-1], "``", "`")
	}
	return id
}

// capturedDB reports whether statements run in db may concern captured tables.
func (s *Source) capturedDB(db string) bool {
	if s.tables == nil {
		return db == s.conn.database
	}
	for t := range s.tables {
		if d, _, _ := splitTable(t); d == db {
			return true
		}
	}
	return false
}

// ddl publishes a schema change run in a captured database on
// <prefix>.<source>._ddl, and a TRUNCATE also as op "t" on its table.
func (st *streamer) ddl(ctx context.Context, h *replication.EventHeader, schema, q string) error {
	if dmlRE.MatchString(q) && st.s.capturedDB(schema) {
		st.s.log.Warn("statement-based change in the binlog cannot be captured (a session used binlog_format other than ROW)",
			"schema", schema, "file", st.file, "pos", h.LogPos-h.EventSize)
		return nil
	}
	if !ddlRE.MatchString(q) {
		return nil
	}
	// Table ids and JSON columns may change with any DDL.
	clear(st.jsonCols)
	clear(st.boolCols)
	db, table := schema, ""
	m := truncateRE.FindStringSubmatch(q)
	if m != nil {
		table = unquote(m[2])
		if m[1] != "" {
			db = unquote(m[1])
		}
	}
	if !st.s.capturedDB(schema) && !(m != nil && st.s.captured(db, table)) {
		return nil
	}
	meta := st.meta(h, db, table)
	if err := st.sink.PublishDDL(ctx, st.msgID(), capture.DDLEvent{DDL: q, Schema: schema, Source: meta}); err != nil {
		return err
	}
	if m != nil && st.s.captured(db, table) {
		if st.windows != nil {
			st.windows.Truncated(db + "." + table)
		}
		c := &capture.Change{Op: capture.OpTruncate, Source: meta, Time: time.Now()}
		c.ID = st.msgID()
		return st.sink.Publish(ctx, c)
	}
	return nil
}
