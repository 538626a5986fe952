package postgres

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"

	"github.com/ficus-migrate/ficus/capture"
)

// relation caches a Relation message. PostgreSQL sends one before the first
// change of a table in each session and again after its schema changes
// (ALTER TABLE), so replacing the entry is all the row events need; a change
// of the columns is also published as a schema event (schemaChange).
func (st *streamer) relation(ctx context.Context, m *pglogrepl.RelationMessage, walStart pglogrepl.LSN) error {
	oids := make([]uint32, len(m.Columns))
	for i, c := range m.Columns {
		oids[i] = c.DataType
	}
	if err := st.s.resolveTypes(ctx, st.meta, st.conv, oids); err != nil {
		return err
	}
	// With REPLICA IDENTITY FULL every column is flagged as identity, so the
	// event key comes from the primary key in the catalog when there is one.
	var pk []string
	if err := st.meta.QueryRow(ctx, `SELECT COALESCE(array_agg(a.attname::text ORDER BY k.ord), '{}')
		FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
		WHERE i.indrelid = $1 AND i.indisprimary`, m.RelationID).Scan(&pk); err != nil {
		return fmt.Errorf("read primary key of %s.%s: %w", m.Namespace, m.RelationName, err)
	}
	rel := &relation{msg: m, name: m.Namespace + "." + m.RelationName}
	if st.s.cfg.Backfill != nil && rel.name == st.s.cfg.SignalTable {
		rel.signal = true
		st.rels[m.RelationID] = rel
		return nil
	}
	if st.s.removed[rel.name] {
		// A table removed from the configuration: the publication no longer
		// has it, but changes logged before it was taken out still decode.
		rel.skip = true
		st.rels[m.RelationID] = rel
		return nil
	}
	if st.s.narrow {
		configured, err := st.s.configured(ctx, st.meta, m.RelationID, rel.name)
		if err != nil {
			return err
		}
		if !configured {
			rel.skip = true // FOR ALL TABLES sends every table; this one is not configured
			st.rels[m.RelationID] = rel
			return nil
		}
	}
	if len(pk) > 0 {
		for _, k := range pk {
			for i, c := range m.Columns {
				if c.Name == k {
					rel.keyIdx = append(rel.keyIdx, i)
				}
			}
		}
	} else if m.ReplicaIdentity != 'f' {
		for i, c := range m.Columns {
			if c.Flags&1 != 0 {
				rel.keyIdx = append(rel.keyIdx, i)
			}
		}
	}
	var prev *pglogrepl.RelationMessage
	if old := st.rels[m.RelationID]; old != nil {
		prev = old.msg
	}
	if err := st.schemaChange(ctx, prev, m, walStart); err != nil {
		return err
	}
	st.rels[m.RelationID] = rel
	return nil
}

func (st *streamer) row(ctx context.Context, op capture.Op, relID uint32, walStart pglogrepl.LSN,
	oldType uint8, old, nu []tupleCol) error {
	rel, ok := st.rels[relID]
	if !ok {
		return fmt.Errorf("change for relation %d before its Relation message", relID)
	}
	m := rel.msg
	st.buf = appendLSN(st.buf[:0], walStart)
	if rel.signal {
		return st.signal(ctx, string(st.buf), nu, m)
	}
	if rel.skip {
		return nil
	}
	c := &capture.Change{
		Op: op,
		Source: capture.SourceMeta{
			Connector: "postgresql", Name: st.s.cfg.Name, DB: st.s.database, Schema: m.Namespace, Table: m.RelationName,
			LSN: string(st.buf), TxID: st.xid, CommitLSN: st.commitLSNText, TsMs: st.commitTime.UnixMilli(),
		},
		Time: time.Now(),
	}
	var err error
	var full []tupleCol
	switch oldType {
	case 'O':
		full = old
		if c.Before, err = st.tupleRow(m, old, nil, nil); err != nil {
			return err
		}
	case 'K':
		if c.Before, err = st.identityRow(m, old); err != nil {
			return err
		}
	}
	if nu != nil {
		if c.After, err = st.tupleRow(m, nu, full, &c.Source.UnchangedToast); err != nil {
			return err
		}
	}
	switch op {
	case capture.OpUpdate:
		if c.Before == nil {
			// Without REPLICA IDENTITY FULL and with an unchanged key,
			// PostgreSQL sends no old tuple: the key is all we know.
			if c.Before, err = st.identityRow(m, nu); err != nil {
				return err
			}
		}
		c.Key = project(m, c.After, rel.keyIdx)
	case capture.OpCreate:
		c.Key = project(m, c.After, rel.keyIdx)
	case capture.OpDelete:
		c.Key = project(m, c.Before, rel.keyIdx)
	}
	if st.windows != nil {
		if op == capture.OpTruncate {
			st.windows.Truncated(rel.name)
		}
		st.windows.Changed(rel.name, c.Key)
		if op == capture.OpUpdate {
			// An update of the key itself also removes the old key.
			st.windows.Changed(rel.name, project(m, c.Before, rel.keyIdx))
		}
	}
	// <source>:<commit LSN>:<index in transaction>, the prefix cached per transaction.
	st.buf = strconv.AppendInt(append(st.buf[:0], st.idPrefix...), int64(st.index), 10)
	c.ID = string(st.buf)
	st.index++
	return st.sink.Publish(ctx, c)
}

// tupleRow converts a tuple. An unchanged TOAST value ('u') is taken from the
// full old tuple when there is one; otherwise the column is left out and
// listed in *unchanged, never emitted as a misleading null.
func (st *streamer) tupleRow(m *pglogrepl.RelationMessage, t, old []tupleCol, unchanged *[]string) (capture.Row, error) {
	if len(t) != len(m.Columns) {
		return nil, fmt.Errorf("%s.%s: tuple has %d columns, relation %d", m.Namespace, m.RelationName, len(t), len(m.Columns))
	}
	row := make(capture.Row, 0, len(t))
	for i, col := range t {
		if col.kind == pglogrepl.TupleDataTypeToast && i < len(old) && old[i].kind != pglogrepl.TupleDataTypeToast {
			col = old[i]
		}
		name := m.Columns[i].Name
		var v any
		switch col.kind {
		case pglogrepl.TupleDataTypeNull:
		case pglogrepl.TupleDataTypeToast:
			if unchanged != nil {
				*unchanged = append(*unchanged, name)
			}
			continue
		case pglogrepl.TupleDataTypeText:
			var err error
			if v, err = st.conv.convert(m.Columns[i].DataType, col.data); err != nil {
				return nil, fmt.Errorf("%s.%s column %q: %w", m.Namespace, m.RelationName, name, err)
			}
		default:
			return nil, fmt.Errorf("%s.%s column %q: unsupported tuple data type %q", m.Namespace, m.RelationName, name, col.kind)
		}
		row = append(row, capture.Field{Name: name, Value: v})
	}
	return row, nil
}

// identityRow keeps only the replica identity columns of a tuple.
func (st *streamer) identityRow(m *pglogrepl.RelationMessage, t []tupleCol) (capture.Row, error) {
	full, err := st.tupleRow(m, t, nil, nil)
	if err != nil {
		return nil, err
	}
	var row capture.Row
	for _, f := range full {
		for _, c := range m.Columns {
			if c.Name == f.Name && c.Flags&1 != 0 {
				row = append(row, f)
			}
		}
	}
	return row, nil
}

func project(m *pglogrepl.RelationMessage, row capture.Row, idx []int) capture.Row {
	if len(idx) == 0 || row == nil {
		return nil
	}
	key := make(capture.Row, 0, len(idx))
	for _, i := range idx {
		if v, ok := row.Get(m.Columns[i].Name); ok {
			key = append(key, capture.Field{Name: m.Columns[i].Name, Value: v})
		}
	}
	return key
}

// configured reports whether the relation is a configured table or a
// partition of one (changes of a partitioned table come under its leaves'
// names unless publish_via_partition_root is set).
func (s *Source) configured(ctx context.Context, meta *pgx.Conn, relid uint32, name string) (bool, error) {
	if slices.Contains(s.cfg.Tables, name) {
		return true, nil
	}
	var root string
	if err := meta.QueryRow(ctx, `SELECT n.nspname || '.' || c.relname FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = COALESCE(pg_partition_root($1::oid)::oid, $1::oid)`, relid).Scan(&root); err != nil {
		return false, fmt.Errorf("read the partition root of %s: %w", name, err)
	}
	return slices.Contains(s.cfg.Tables, root), nil
}
