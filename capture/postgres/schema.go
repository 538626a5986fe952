package postgres

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/jackc/pglogrepl"

	"github.com/ficus-migrate/ficus/capture"
)

// schemaChange publishes a schema event when a Relation message announces
// columns (names, types, order) other than the previous one for the same
// relation id in this session. It runs before the relation replaces the old
// one and through the sink's ordered path, so the event sits between the
// last old-shape and the first new-shape change of the table. The first
// Relation message of a session has nothing to compare with and publishes
// nothing: pgoutput sends one before the first change of every table after
// each (re)start, and no shape is kept across sessions.
//
// Excluded columns (capture/mask) are left out of both lists; a change that
// only touches excluded columns publishes nothing. Masked columns are listed
// (name and type; no value is in the event).
func (st *streamer) schemaChange(ctx context.Context, prev, m *pglogrepl.RelationMessage, walStart pglogrepl.LSN) error {
	if prev == nil {
		return nil
	}
	table := m.Namespace + "." + m.RelationName
	before, after := st.visible(table, prev), st.visible(table, m)
	if slices.EqualFunc(before, after, sameColumn) {
		return nil
	}
	oldCols, err := st.typeNames(ctx, before)
	if err != nil {
		return err
	}
	newCols, err := st.typeNames(ctx, after)
	if err != nil {
		return err
	}
	st.buf = appendLSN(st.buf[:0], walStart)
	meta := capture.SourceMeta{
		Connector: "postgresql", Name: st.s.cfg.Name, DB: st.s.database, Schema: m.Namespace, Table: m.RelationName,
		LSN: string(st.buf), TxID: st.xid, CommitLSN: st.commitLSNText, TsMs: st.commitTime.UnixMilli(),
	}
	// <source>:<commit LSN>:ddl:<relation id>:<LSN of the change that made
	// pgoutput send the Relation>: the same on every replay of the WAL, and
	// apart from the row index so row ids do not depend on whether this
	// session saw the old shape.
	id := st.idPrefix + "ddl:" + strconv.FormatUint(uint64(m.RelationID), 10) + ":" + meta.LSN
	return st.sink.PublishDDL(ctx, id, capture.DDLEvent{
		Schema: m.Namespace, Table: m.RelationName,
		Columns: &capture.ColumnChange{Before: oldCols, After: newCols},
		Source:  meta,
	})
}

// visible is the columns of m that are published (not excluded).
func (st *streamer) visible(table string, m *pglogrepl.RelationMessage) []*pglogrepl.RelationMessageColumn {
	out := make([]*pglogrepl.RelationMessageColumn, 0, len(m.Columns))
	for _, c := range m.Columns {
		if !st.s.cfg.Mask.Excluded(table, c.Name) {
			out = append(out, c)
		}
	}
	return out
}

func sameColumn(a, b *pglogrepl.RelationMessageColumn) bool {
	return a.Name == b.Name && a.DataType == b.DataType && a.TypeModifier == b.TypeModifier
}

// typeNames spells the columns' types as PostgreSQL does (format_type).
func (st *streamer) typeNames(ctx context.Context, cols []*pglogrepl.RelationMessageColumn) ([]capture.Column, error) {
	out := make([]capture.Column, 0, len(cols))
	for _, c := range cols {
		var typ string
		if err := st.meta.QueryRow(ctx, `SELECT format_type($1::oid, $2::int)`, c.DataType, c.TypeModifier).Scan(&typ); err != nil {
			return nil, fmt.Errorf("name type %d of column %q: %w", c.DataType, c.Name, err)
		}
		out = append(out, capture.Column{Name: c.Name, Type: typ})
	}
	return out, nil
}
