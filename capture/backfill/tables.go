package backfill

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TablesKey is the checkpoint key (capture.sources' checkpoint bucket,
// ficus_checkpoints) of the tables a source captured when it last started.
func TablesKey(source string) string { return source + ".tables" }

// Checkpoints is the checkpoint bucket the readers keep their positions in
// (*sink.Checkpoints).
type Checkpoints interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Put(ctx context.Context, key string, val []byte) error
}

// tableSet is the value of TablesKey.
type tableSet struct {
	// All: no table list was configured, every table was captured,
	// including the ones created while it ran.
	All    bool     `json:"all,omitempty"`
	Tables []string `json:"tables"`
}

// Start is what a reader knows of its tables when it starts, before it
// streams.
type Start struct {
	// Tables are the tables it captures now ("schema.table" / "db.table"),
	// the signal table left out.
	Tables []string
	// All: no table list is configured (Tables are the ones found).
	All bool
	// Snapshotted: this start's initial snapshot read every table, so none
	// is backfilled.
	Snapshotted bool
	// Backfill: tables added since the last start are backfilled
	// (snapshot: initial); with snapshot: never they only stream.
	Backfill bool
}

// AddTables compares the tables a reader captures now with the ones it
// captured when it last started (kept in cps under TablesKey), queues a
// backfill of each table added since (one that was not captured then), and
// records the current set. The first start of a source, whose initial
// snapshot reads every table, and a source that has no record yet (started
// by a ficus without it) queue nothing. It returns the tables queued and the
// ones removed since (the reader drops what it still streams of them).
//
// A backfill queued here and not recorded yet (a crash in between) is not
// queued twice: a request of the same table without condition already in
// the queue stands for it.
func (m *Manager) AddTables(ctx context.Context, cps Checkpoints, st Start) (queued, removed []string, err error) {
	key := TablesKey(m.cfg.Source)
	raw, err := cps.Get(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	var prev *tableSet
	if raw != nil {
		prev = &tableSet{}
		if err := json.Unmarshal(raw, prev); err != nil {
			return nil, nil, fmt.Errorf("decode checkpoint %s: %w", key, err)
		}
	}
	var added []string
	if prev != nil && !prev.All && !st.Snapshotted {
		for _, t := range st.Tables {
			if !slices.Contains(prev.Tables, t) {
				added = append(added, t)
			}
		}
		for _, t := range prev.Tables {
			if !st.All && !slices.Contains(st.Tables, t) {
				removed = append(removed, t)
			}
		}
		if len(removed) > 0 {
			m.log.Info("tables removed from the source: no longer published", "tables", strings.Join(removed, ","))
		}
	}
	switch {
	case len(added) == 0:
	case !st.Backfill:
		m.log.Info("tables added to the source stream from now on; not backfilled (snapshot: never)",
			"tables", strings.Join(added, ","))
	default:
		if queued, err = m.queueAdded(ctx, added); err != nil {
			return nil, nil, err
		}
	}
	b, err := json.Marshal(tableSet{All: st.All, Tables: slices.Sorted(slices.Values(st.Tables))})
	if err != nil {
		return nil, nil, fmt.Errorf("encode checkpoint %s: %w", key, err)
	}
	if err := cps.Put(ctx, key, b); err != nil {
		return nil, nil, err
	}
	return queued, removed, nil
}

// queueAdded queues a whole-table backfill of each table unless one is
// queued already. The engine checks them when it takes them up (a table
// without primary key is refused there, with its error in the status).
func (m *Manager) queueAdded(ctx context.Context, tables []string) ([]string, error) {
	st, err := m.store(ctx)
	if err != nil {
		return nil, err
	}
	var queued []string
	_, err = st.update(ctx, func(q *queue) error {
		queued = queued[:0]
		for i, t := range tables {
			if slices.ContainsFunc(q.Jobs, func(j Job) bool { return j.Table == t && j.Where == "" }) {
				continue
			}
			if len(q.Jobs) >= MaxQueued {
				return fmt.Errorf("backfill of added table %s: %d backfills are queued already", t, len(q.Jobs))
			}
			r := Request{Table: t}
			if err := r.Normalize(m.cfg.Dialect); err != nil {
				return fmt.Errorf("backfill of added table %s: %w", t, err)
			}
			q.Jobs = append(q.Jobs, Job{ID: strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.Itoa(i),
				Request: r, Queued: time.Now().UTC()})
			queued = append(queued, t)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, t := range queued {
		m.log.Info("backfill queued for a table added to the source", "table", t)
	}
	return queued, nil
}
