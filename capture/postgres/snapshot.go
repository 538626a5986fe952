package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/capture/sink"
)

const progressEvery = 5 * time.Second

// snapshot reads every table inside the slot's exported snapshot, so the rows
// are exactly the state at the slot's consistent point: streaming from there
// has no gap and no duplicate.
func (s *Source) snapshot(ctx context.Context, conn *pgx.Conn, conv *converter, pub *sink.Sink,
	tables []table, snapName string, at pglogrepl.LSN) error {
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("begin snapshot transaction: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only; nothing to lose
	if _, err := tx.Exec(ctx, "SET TRANSACTION SNAPSHOT "+quoteLiteral(snapName)); err != nil {
		return fmt.Errorf("set transaction snapshot: %w", err)
	}
	started := time.Now()
	for _, t := range tables {
		if err := s.snapshotTable(ctx, conn, conv, pub, t, at, started); err != nil {
			return fmt.Errorf("snapshot %s: %w", t, err)
		}
	}
	s.log.Info("initial snapshot read", "tables", len(tables), "elapsed", time.Since(started).Round(time.Millisecond))
	return tx.Commit(ctx)
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func (s *Source) snapshotTable(ctx context.Context, conn *pgx.Conn, conv *converter, pub *sink.Sink,
	t table, at pglogrepl.LSN, started time.Time) error {
	var cols []string
	if err := conn.QueryRow(ctx, `SELECT COALESCE(array_agg(attname::text ORDER BY attnum), '{}') FROM pg_attribute
		WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped AND attgenerated = ''`, t.OID).Scan(&cols); err != nil {
		return fmt.Errorf("read columns: %w", err)
	}
	if len(cols) == 0 {
		return nil
	}
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = quoteIdent(c)
	}
	selectList := strings.Join(quoted, ", ")
	keyIdx := make([]int, len(t.PK))
	pkQuoted := make([]string, len(t.PK))
	params := make([]string, len(t.PK))
	for i, k := range t.PK {
		keyIdx[i] = indexOf(cols, k)
		pkQuoted[i] = quoteIdent(k)
		params[i] = "$" + strconv.Itoa(i+1)
	}
	total := max(int64(t.Reltuples), 0)
	s.metrics.SnapshotTotal.WithLabelValues(s.cfg.Name, t.String()).Set(float64(total))
	done := s.metrics.SnapshotDone.WithLabelValues(s.cfg.Name, t.String())
	done.Set(0)

	pg := conn.PgConn()
	limit := strconv.Itoa(s.cfg.SnapshotChunkSize)
	var fetch func(last [][]byte) (*pgconn.Result, error)
	if len(t.PK) > 0 {
		// Keyset pagination: each page is an index range scan, whatever the table size.
		order := strings.Join(pkQuoted, ", ")
		first := "SELECT " + selectList + " FROM " + t.qualified() + " ORDER BY " + order + " LIMIT " + limit
		next := "SELECT " + selectList + " FROM " + t.qualified() + " WHERE (" + order + ") > (" +
			strings.Join(params, ", ") + ") ORDER BY " + order + " LIMIT " + limit
		fetch = func(last [][]byte) (*pgconn.Result, error) {
			if last == nil {
				return pg.ExecParams(ctx, first, nil, nil, nil, nil).Read(), nil
			}
			key := make([][]byte, len(keyIdx))
			for i, idx := range keyIdx {
				key[i] = last[idx]
			}
			return pg.ExecParams(ctx, next, key, nil, nil, nil).Read(), nil
		}
	} else {
		// No primary key (REPLICA IDENTITY FULL): a cursor is the only bounded way.
		if _, err := conn.Exec(ctx, "DECLARE ficus_snap NO SCROLL CURSOR FOR SELECT "+selectList+" FROM "+t.qualified()); err != nil {
			return fmt.Errorf("declare cursor: %w", err)
		}
		defer conn.Exec(context.WithoutCancel(ctx), "CLOSE ficus_snap") //nolint:errcheck // ends with the transaction anyway
		fetch = func([][]byte) (*pgconn.Result, error) {
			return pg.ExecParams(ctx, "FETCH "+limit+" FROM ficus_snap", nil, nil, nil, nil).Read(), nil
		}
	}

	var last [][]byte
	var n int64
	lastLog := time.Now()
	tableStart := time.Now()
	for {
		res, _ := fetch(last)
		if res.Err != nil {
			return fmt.Errorf("read rows: %w", res.Err)
		}
		if err := s.resolveTypes(ctx, conn, conv, fieldOIDs(res.FieldDescriptions)); err != nil {
			return err
		}
		for _, raw := range res.Rows {
			n++
			c, err := s.snapshotChange(conv, t, res.FieldDescriptions, raw, keyIdx, n, at, started)
			if err != nil {
				return err
			}
			if err := pub.Publish(ctx, c); err != nil {
				return err
			}
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
		if len(res.Rows) < s.cfg.SnapshotChunkSize {
			break
		}
		last = res.Rows[len(res.Rows)-1]
	}
	s.log.Info("snapshot of table done", "table", t.String(), "rows", n, "elapsed", time.Since(tableStart).Round(time.Millisecond))
	return nil
}

func indexOf(cols []string, name string) int {
	for i, c := range cols {
		if c == name {
			return i
		}
	}
	return -1
}

func fieldOIDs(fds []pgconn.FieldDescription) []uint32 {
	oids := make([]uint32, len(fds))
	for i, fd := range fds {
		oids[i] = fd.DataTypeOID
	}
	return oids
}

func (s *Source) snapshotChange(conv *converter, t table, fds []pgconn.FieldDescription, raw [][]byte,
	keyIdx []int, ordinal int64, at pglogrepl.LSN, started time.Time) (*capture.Change, error) {
	after := make(capture.Row, len(fds))
	for i, fd := range fds {
		v, err := conv.convert(fd.DataTypeOID, raw[i])
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", fd.Name, err)
		}
		after[i] = capture.Field{Name: fd.Name, Value: v}
	}
	var key capture.Row
	for _, idx := range keyIdx {
		key = append(key, after[idx])
	}
	c := &capture.Change{
		Op: capture.OpRead, After: after, Key: key,
		Source: capture.SourceMeta{
			Connector: "postgresql", Name: s.cfg.Name, DB: s.database, Schema: t.Schema, Table: t.Name,
			LSN: at.String(), CommitLSN: at.String(), Snapshot: true, TsMs: started.UnixMilli(),
		},
		Time: time.Now(),
	}
	id, err := capture.SnapshotID(s.cfg.Name, t.String(), key, after, len(keyIdx) > 0, ordinal)
	if err != nil {
		return nil, err
	}
	c.ID = id
	return c, nil
}

// resolveTypes loads pg_type details for user-defined type OIDs (enums,
// domains, arrays of those) the converter has not seen yet.
func (s *Source) resolveTypes(ctx context.Context, conn *pgx.Conn, conv *converter, oids []uint32) error {
	var missing []uint32
	for _, o := range oids {
		if !conv.known(o) {
			missing = append(missing, o)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	rows, err := conn.Query(ctx, `SELECT oid, typelem, typbasetype, typcategory = 'A',
		typname = 'hstore' AND typtype = 'b' FROM pg_type WHERE oid = ANY($1)`, missing)
	if err != nil {
		return fmt.Errorf("resolve types: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var oid, elem, base uint32
		var isArray, hstore bool
		if err := rows.Scan(&oid, &elem, &base, &isArray, &hstore); err != nil {
			return fmt.Errorf("resolve types: %w", err)
		}
		ti := typeInfo{base: base, hstore: hstore}
		if isArray {
			ti.elem = elem
		}
		conv.types[oid] = ti
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("resolve types: %w", err)
	}
	// Element and base types may themselves be user-defined.
	var next []uint32
	for _, o := range missing {
		ti := conv.types[o]
		for _, d := range []uint32{ti.elem, ti.base} {
			if d != 0 && !conv.known(d) {
				next = append(next, d)
			}
		}
		if _, ok := conv.types[o]; !ok {
			conv.types[o] = typeInfo{} // vanished type: fall back to its text
		}
	}
	if len(next) > 0 {
		return s.resolveTypes(ctx, conn, conv, next)
	}
	return nil
}
