package mysql

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/capture/sink"
)

const progressEvery = 5 * time.Second

// snapshot reads every table in one consistent-snapshot transaction and
// returns the binlog position of exactly that state, where streaming starts:
// no gap, no duplicate.
func (s *Source) snapshot(ctx context.Context, db *sql.DB, srv server, pub *sink.Sink, tables []tableRef) (Position, error) {
	c, err := db.Conn(ctx)
	if err != nil {
		return Position{}, fmt.Errorf("snapshot connection: %w", err)
	}
	defer c.Close()
	pos, err := s.beginSnapshot(ctx, c, srv)
	if err != nil {
		return Position{}, err
	}
	defer c.ExecContext(context.WithoutCancel(ctx), "ROLLBACK") //nolint:errcheck // read only; nothing to lose
	s.log.Info("initial snapshot started", "tables", len(tables), "position", pos.String())
	started := time.Now()
	for _, t := range tables {
		if err := s.snapshotTable(ctx, c, srv, pub, t, pos, started); err != nil {
			return Position{}, fmt.Errorf("snapshot %s: %w", t, err)
		}
	}
	s.log.Info("initial snapshot read", "tables", len(tables), "elapsed", time.Since(started).Round(time.Millisecond))
	return pos, nil
}

// beginSnapshot opens the consistent read. MariaDB reports the binlog
// position of its snapshot itself (binlog_snapshot_file/position), without a
// global lock; MySQL needs FLUSH TABLES WITH READ LOCK held briefly around
// reading the position and starting the snapshot.
func (s *Source) beginSnapshot(ctx context.Context, c *sql.Conn, srv server) (Position, error) {
	pos := Position{Flavor: srv.flavor}
	if _, err := c.ExecContext(ctx, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"); err != nil {
		return pos, fmt.Errorf("set isolation level: %w", err)
	}
	if srv.flavor == FlavorMariaDB {
		if _, err := c.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT"); err != nil {
			return pos, fmt.Errorf("start consistent snapshot: %w", err)
		}
		rows, err := c.QueryContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_%'")
		if err != nil {
			return pos, fmt.Errorf("read snapshot position: %w", err)
		}
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				rows.Close()
				return pos, fmt.Errorf("read snapshot position: %w", err)
			}
			switch strings.ToLower(k) {
			case "binlog_snapshot_file":
				pos.File = v
			case "binlog_snapshot_position":
				p, _ := strconv.ParseUint(v, 10, 32)
				pos.Pos = uint32(p)
			}
		}
		rows.Close()
		if pos.File == "" {
			return pos, fmt.Errorf("server reported no binlog snapshot position")
		}
		var gtid sql.NullString
		if err := c.QueryRowContext(ctx, "SELECT BINLOG_GTID_POS(?, ?)", pos.File, pos.Pos).Scan(&gtid); err != nil {
			return pos, fmt.Errorf("read gtid position at %s:%d: %w", pos.File, pos.Pos, err)
		}
		pos.GTID = gtid.String
		return pos, nil
	}
	if _, err := c.ExecContext(ctx, "FLUSH TABLES WITH READ LOCK"); err != nil {
		return pos, fmt.Errorf("flush tables with read lock (needs the RELOAD privilege): %w", err)
	}
	unlock := func() { c.ExecContext(context.WithoutCancel(ctx), "UNLOCK TABLES") } //nolint:errcheck // best effort
	file, p, gtid, err := binlogStatus(ctx, c)
	if err != nil {
		unlock()
		return pos, err
	}
	pos.File, pos.Pos = file, p
	if srv.gtid {
		pos.GTID = gtid
	}
	if _, err := c.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT"); err != nil {
		unlock()
		return pos, fmt.Errorf("start consistent snapshot: %w", err)
	}
	unlock()
	return pos, nil
}

func (s *Source) snapshotTable(ctx context.Context, c *sql.Conn, srv server, pub *sink.Sink, t tableRef,
	at Position, started time.Time) error {
	var jsonCols map[string]bool
	if srv.flavor == FlavorMariaDB {
		var err error
		if jsonCols, err = mariaJSONColumns(ctx, c, t.DB, t.Name); err != nil {
			return err
		}
	}
	cols, err := schemaColumns(ctx, c, t.DB, t.Name, jsonCols, s.opts)
	if err != nil {
		return err
	}
	if len(cols) == 0 {
		return nil
	}
	pk, err := primaryKey(ctx, c, t.DB, t.Name)
	if err != nil {
		return err
	}
	exprs := make([]string, len(cols))
	for i, col := range cols {
		exprs[i] = quoteIdent(col.Name)
		if col.Kind == kFloat {
			// SELECT prints FLOAT with 6 significant digits; as a double it is exact.
			exprs[i] = "(" + exprs[i] + " + 0e0)"
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
			return fmt.Errorf("primary key column %q not among the columns", k)
		}
		keyExprs[i] = quoteIdent(k)
		params[i] = "?"
		if cols[keyIdx[i]].Kind == kDecimal {
			params[i] = "CAST(? AS DECIMAL(65,30))" // compared as a decimal, not as a double
		}
	}
	from := " FROM " + quoteIdent(t.DB) + "." + quoteIdent(t.Name)
	sel := "SELECT " + strings.Join(exprs, ", ") + from
	limit := strconv.Itoa(s.cfg.SnapshotChunkSize)
	var first, next string
	if len(pk) > 0 {
		order := strings.Join(keyExprs, ", ")
		first = sel + " ORDER BY " + order + " LIMIT " + limit
		next = sel + " WHERE (" + order + ") > (" + strings.Join(params, ", ") + ") ORDER BY " + order + " LIMIT " + limit
	} else {
		// No key to page by: one streamed read (the driver does not buffer it).
		s.log.Warn("table has no primary key: snapshot reads it in one pass and events carry no key", "table", t.String())
		first = sel
	}

	var total int64
	_ = c.QueryRowContext(ctx, `SELECT COALESCE(TABLE_ROWS, 0) FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`, t.DB, t.Name).Scan(&total)
	s.metrics.SnapshotTotal.WithLabelValues(s.cfg.Name, t.String()).Set(float64(total))
	done := s.metrics.SnapshotDone.WithLabelValues(s.cfg.Name, t.String())
	done.Set(0)

	var n int64
	var lastKey []any
	lastLog, tableStart := time.Now(), time.Now()
	for {
		query, args := first, []any(nil)
		if lastKey != nil {
			query, args = next, lastKey
		}
		rows, err := c.QueryContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("read rows: %w", err)
		}
		got := 0
		raw := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return fmt.Errorf("read rows: %w", err)
			}
			got++
			n++
			ch, err := s.snapshotChange(t, cols, raw, keyIdx, n, at, started)
			if err != nil {
				rows.Close()
				return err
			}
			if len(pk) > 0 {
				lastKey = keyArgs(cols, keyIdx, raw)
			}
			if err := pub.Publish(ctx, ch); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read rows: %w", err)
		}
		done.Set(float64(n))
		if time.Since(lastLog) >= progressEvery {
			lastLog = time.Now()
			rate := float64(n) / time.Since(tableStart).Seconds()
			attrs := []any{"table", t.String(), "rows", n, "rows_per_s", int64(rate)}
			if total > n && rate > 0 {
				attrs = append(attrs, "eta", (time.Duration(float64(total-n)/rate) * time.Second).Round(time.Second))
			}
			s.log.Info("snapshot progress", attrs...)
		}
		if len(pk) == 0 || got < s.cfg.SnapshotChunkSize {
			break
		}
	}
	s.log.Info("snapshot of table done", "table", t.String(), "rows", n, "elapsed", time.Since(tableStart).Round(time.Millisecond))
	return nil
}

// keyArgs copies the last row's key for the next page (RawBytes are reused).
func keyArgs(cols []column, keyIdx []int, raw []sql.RawBytes) []any {
	args := make([]any, len(keyIdx))
	for i, idx := range keyIdx {
		b := bytes.Clone(raw[idx])
		if cols[idx].Kind == kBinary {
			args[i] = b // a binary literal, compared byte-wise like the column
		} else {
			args[i] = string(b) // takes the column's collation in the comparison
		}
	}
	return args
}

func (s *Source) snapshotChange(t tableRef, cols []column, raw []sql.RawBytes, keyIdx []int, ordinal int64,
	at Position, started time.Time) (*capture.Change, error) {
	after := make(capture.Row, len(cols))
	for i := range cols {
		v, err := cols[i].fromText(raw[i])
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", cols[i].Name, err)
		}
		after[i] = capture.Field{Name: cols[i].Name, Value: v}
	}
	var key capture.Row
	for _, idx := range keyIdx {
		key = append(key, after[idx])
	}
	ch := &capture.Change{
		Op: capture.OpRead, After: after, Key: key,
		Source: capture.SourceMeta{
			Connector: "mysql", Name: s.cfg.Name, DB: t.DB, Schema: t.DB, Table: t.Name, Snapshot: true,
			TsMs: started.UnixMilli(), File: at.File, Pos: at.Pos, GTID: at.GTID,
		},
		Time: time.Now(),
	}
	id, err := capture.SnapshotID(s.cfg.Name, t.String(), key, after, len(keyIdx) > 0, ordinal)
	if err != nil {
		return nil, err
	}
	ch.ID = id
	return ch, nil
}
