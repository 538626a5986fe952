package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/capture/backfill"
)

// The backfill engine (capture/backfill) of a PostgreSQL source: watermarks
// in the signal table, chunks read by primary key. It has its own
// connection and type converter: it runs beside the streaming goroutine.

var _ backfill.Engine = (*backfillEngine)(nil)

type backfillEngine struct {
	s      *Source
	tables []table

	// mu serializes the connection: the driver and the admin API's
	// Enqueue (Check) both use it.
	mu   sync.Mutex
	conn *pgx.Conn
	conv *converter
	// xipCheck: the server has pg_current_snapshot (13+), see read.
	xipCheck bool
}

// signalTable is the configured signal table split into schema and name.
func (s *Source) signalTable() table {
	schema, name, _ := splitTable(s.cfg.SignalTable)
	return table{Schema: schema, Name: name}
}

// signalExists reports whether the signal table is there, so a publication
// with a table list keeps it.
func (s *Source) signalExists(ctx context.Context, conn *pgx.Conn) (bool, error) {
	if s.cfg.Backfill == nil {
		return false, nil
	}
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", s.signalTable().qualified()).Scan(&ok); err != nil {
		return false, fmt.Errorf("look up signal table %s: %w", s.cfg.SignalTable, err)
	}
	return ok, nil
}

// addTables queues a backfill of each table added to the configuration
// since the source last started (capture/backfill AddTables): the
// publication has them already (ensurePublication), so their rows arrive as
// op r while their changes stream.
func (s *Source) addTables(ctx context.Context, conn *pgx.Conn, cps backfill.Checkpoints, tables []table, snapshotted bool) error {
	if s.cfg.Backfill == nil {
		return nil
	}
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = t.String()
	}
	all := len(s.cfg.Tables) == 0
	if all {
		// Every table is configured, but a publication made for a table
		// list is kept as it is (ensurePublication): only its tables stream,
		// so only they count as captured, and a table added to it later
		// counts as added.
		var listed []string
		if err := conn.QueryRow(ctx, `SELECT CASE WHEN p.puballtables THEN NULL ELSE
			COALESCE((SELECT array_agg(t.schemaname || '.' || t.tablename) FROM pg_publication_tables t
			WHERE t.pubname = p.pubname), '{}') END FROM pg_publication p WHERE p.pubname = $1`,
			s.cfg.Publication).Scan(&listed); err != nil {
			return fmt.Errorf("read publication %q tables: %w", s.cfg.Publication, err)
		}
		if listed != nil {
			names = slices.DeleteFunc(names, func(n string) bool { return !slices.Contains(listed, n) })
			all = false
		}
	}
	_, removed, err := s.cfg.Backfill.AddTables(ctx, cps, backfill.Start{Tables: names, All: all,
		Snapshotted: snapshotted, Backfill: s.cfg.Snapshot == SnapshotInitial})
	if err != nil {
		return err
	}
	// ensurePublication took them out; their changes logged before that
	// still decode, and are not published.
	s.removed = map[string]bool{}
	for _, t := range removed {
		s.removed[t] = true
	}
	return nil
}

// runBackfill runs the source's backfill driver beside streaming; the
// returned stop ends it and waits.
func (s *Source) runBackfill(ctx context.Context, tables []table) (stop func(), err error) {
	if s.cfg.Backfill == nil {
		return func() {}, nil
	}
	conn, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	eng := &backfillEngine{s: s, conn: conn, conv: newConverter(s.cfg.DecimalHandling == DecimalNumber), tables: tables, xipCheck: true}
	bctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.cfg.Backfill.Run(bctx, eng)
	}()
	return func() {
		cancel()
		<-done
		conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck // closing; nothing to do about it
	}, nil
}

func (e *backfillEngine) table(ctx context.Context, name string) (table, error) {
	i := slices.IndexFunc(e.tables, func(t table) bool { return t.String() == name })
	if i < 0 && len(e.s.cfg.Tables) == 0 {
		// Every table is captured: one created since the start counts too.
		tables, err := e.s.loadTables(ctx, e.conn)
		if err != nil {
			return table{}, err
		}
		e.tables = tables
		i = slices.IndexFunc(e.tables, func(t table) bool { return t.String() == name })
	}
	if i < 0 {
		return table{}, backfill.BadRequest(fmt.Errorf("table %s is not captured by source %q", name, e.s.cfg.Name))
	}
	t := e.tables[i]
	if len(t.PK) == 0 {
		return table{}, backfill.BadRequest(fmt.Errorf("table %s has no primary key: a backfill reads by key", name))
	}
	return t, nil
}

func (e *backfillEngine) Check(ctx context.Context, r backfill.Request) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, err := e.table(ctx, r.Table)
	if err != nil {
		return err
	}
	if r.Where == "" {
		return nil
	}
	if _, err := e.conn.Exec(ctx, "EXPLAIN SELECT 1 FROM "+t.qualified()+" WHERE ("+r.Where+")"); err != nil {
		return refused("where", err)
	}
	return nil
}

func (e *backfillEngine) Prepare(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	sig := e.s.signalTable()
	if _, err := e.conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+sig.qualified()+
		" (id text PRIMARY KEY, type text NOT NULL, data text NOT NULL)"); err != nil {
		return fmt.Errorf("create signal table %s: %w", sig, err)
	}
	var all, listed bool
	err := e.conn.QueryRow(ctx, `SELECT p.puballtables, EXISTS (SELECT 1 FROM pg_publication_tables t
		WHERE t.pubname = p.pubname AND t.schemaname = $2 AND t.tablename = $3)
		FROM pg_publication p WHERE p.pubname = $1`, e.s.cfg.Publication, sig.Schema, sig.Name).Scan(&all, &listed)
	if err != nil {
		return fmt.Errorf("read publication %q: %w", e.s.cfg.Publication, err)
	}
	if all || listed {
		return nil
	}
	if _, err := e.conn.Exec(ctx, "ALTER PUBLICATION "+quoteIdent(e.s.cfg.Publication)+" ADD TABLE "+sig.qualified()); err != nil {
		return fmt.Errorf("add signal table %s to publication %q: %w", sig, e.s.cfg.Publication, err)
	}
	e.s.log.Info("signal table added to the publication", "table", sig.String(), "publication", e.s.cfg.Publication)
	return nil
}

func (e *backfillEngine) Watermark(ctx context.Context, kind backfill.Kind, id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, err := e.conn.Exec(ctx, "INSERT INTO "+e.s.signalTable().qualified()+` (id, type, data) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET type = EXCLUDED.type, data = EXCLUDED.data`, e.s.cfg.Name, string(kind), id)
	return err
}

func (e *backfillEngine) Estimate(ctx context.Context, name string) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, err := e.table(ctx, name)
	if err != nil {
		return 0
	}
	var n float64
	if err := e.conn.QueryRow(ctx, "SELECT reltuples::float8 FROM pg_class WHERE oid = $1", t.OID).Scan(&n); err != nil {
		return 0
	}
	return max(int64(n), 0)
}

func (e *backfillEngine) Chunk(ctx context.Context, r backfill.Request, last []string) (*backfill.Chunk, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, err := e.table(ctx, r.Table)
	if err != nil {
		return nil, err
	}
	var cols []string
	if err := e.conn.QueryRow(ctx, `SELECT COALESCE(array_agg(attname::text ORDER BY attnum), '{}') FROM pg_attribute
		WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped AND attgenerated = ''`, t.OID).Scan(&cols); err != nil {
		return nil, fmt.Errorf("read columns: %w", err)
	}
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = quoteIdent(c)
	}
	keyIdx := make([]int, len(t.PK))
	pkQuoted := make([]string, len(t.PK))
	params := make([]string, len(t.PK))
	for i, k := range t.PK {
		if keyIdx[i] = indexOf(cols, k); keyIdx[i] < 0 {
			return nil, fmt.Errorf("key column %q of %s is gone", k, t)
		}
		pkQuoted[i] = quoteIdent(k)
		params[i] = "$" + strconv.Itoa(i+1)
	}
	order := strings.Join(pkQuoted, ", ")
	var conds []string
	var args [][]byte
	if last != nil {
		if len(last) != len(t.PK) {
			return nil, backfill.BadRequest(fmt.Errorf("saved key has %d columns, %s's key %d", len(last), t, len(t.PK)))
		}
		conds = append(conds, "("+order+") > ("+strings.Join(params, ", ")+")")
		for _, v := range last {
			args = append(args, []byte(v))
		}
	}
	if r.Where != "" {
		conds = append(conds, "("+r.Where+")")
	}
	q := "SELECT " + strings.Join(quoted, ", ") + " FROM " + t.qualified()
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	q += " ORDER BY " + order + " LIMIT " + strconv.Itoa(r.Chunk)
	res, err := e.read(ctx, q, args)
	if err != nil {
		return nil, err
	}
	if err := e.s.resolveTypes(ctx, e.conn, e.conv, fieldOIDs(res.FieldDescriptions)); err != nil {
		return nil, err
	}
	c := &backfill.Chunk{Rows: make([]backfill.Row, 0, len(res.Rows))}
	now := time.Now()
	for _, raw := range res.Rows {
		after := make(capture.Row, len(res.FieldDescriptions))
		for i, fd := range res.FieldDescriptions {
			v, err := e.conv.convert(fd.DataTypeOID, raw[i])
			if err != nil {
				return nil, fmt.Errorf("column %q: %w", fd.Name, err)
			}
			after[i] = capture.Field{Name: fd.Name, Value: v}
		}
		key := make(capture.Row, len(keyIdx))
		for i, idx := range keyIdx {
			key[i] = after[idx]
		}
		k, err := backfill.KeyString(r.Table, key)
		if err != nil {
			return nil, err
		}
		c.Rows = append(c.Rows, backfill.Row{Key: k, Change: &capture.Change{
			Op: capture.OpRead, After: after, Key: key,
			Source: capture.SourceMeta{Connector: "postgresql", Name: e.s.cfg.Name, DB: e.s.database,
				Schema: t.Schema, Table: t.Name, Snapshot: true, TsMs: now.UnixMilli()},
		}})
	}
	if n := len(res.Rows); n > 0 {
		lastRow := res.Rows[n-1]
		c.Last = make([]string, len(keyIdx))
		for i, idx := range keyIdx {
			c.Last[i] = string(lastRow[idx])
		}
	}
	return c, nil
}

// refused wraps an error of the request's own making (SQLSTATE class 42:
// syntax, an unknown or dropped table or column; class 22: a bad value) as a
// BadRequest, which drops the request from the queue; anything else (the
// server restarting, a lock timeout) is retried.
func refused(what string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "42") || strings.HasPrefix(pgErr.Code, "22")) {
		return backfill.BadRequest(fmt.Errorf("%s: %w", what, err))
	}
	return fmt.Errorf("%s: %w", what, err)
}

// read runs the chunk query in a snapshot that sees every transaction whose
// commit is already recorded. PostgreSQL makes a transaction visible a
// moment after it writes its commit record, so a snapshot taken just after
// the low watermark may miss one that committed just before it: its change
// would then be in neither the chunk nor the window. Such a transaction is
// in the snapshot's in-progress list while its status is already
// committed; the snapshot is then taken again.
func (e *backfillEngine) read(ctx context.Context, q string, args [][]byte) (*pgconn.Result, error) {
	for attempt := 0; ; attempt++ {
		tx, err := e.conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return nil, fmt.Errorf("begin chunk read: %w", err)
		}
		var racing int
		if e.xipCheck {
			err = tx.QueryRow(ctx, `SELECT count(*)::int FROM pg_snapshot_xip(pg_current_snapshot()) x
				WHERE pg_xact_status(x) = 'committed'`).Scan(&racing)
		} else {
			_, err = tx.Exec(ctx, "SELECT 1") // takes the snapshot
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42883" && e.xipCheck {
			// PostgreSQL before 13: no pg_current_snapshot (nor the race check).
			e.xipCheck = false
			_ = tx.Rollback(ctx)
			continue
		}
		if err == nil && racing > 0 && attempt < 100 {
			_ = tx.Rollback(ctx) // read only
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			_ = tx.Rollback(ctx)
			return nil, fmt.Errorf("read snapshot: %w", err)
		}
		res := e.conn.PgConn().ExecParams(ctx, q, args, nil, nil, nil).Read()
		_ = tx.Rollback(ctx) // read only
		if res.Err != nil {
			return nil, refused("read rows", res.Err)
		}
		return res, nil
	}
}

// signal handles a change of the signal table: a watermark of this source
// opens or closes a backfill window; at a high watermark what is left of
// the chunk is published there, in stream order. The signal table's own
// changes are never published.
func (st *streamer) signal(ctx context.Context, walLSN string, nu []tupleCol, m *pglogrepl.RelationMessage) error {
	if nu == nil {
		return nil
	}
	vals := map[string]string{}
	for i, col := range nu {
		if i < len(m.Columns) && col.kind == pglogrepl.TupleDataTypeText {
			vals[m.Columns[i].Name] = string(col.data)
		}
	}
	if vals["id"] != st.s.cfg.Name {
		return nil // another source's watermark
	}
	emit := st.s.cfg.Backfill.Windows().Signal(backfill.Kind(vals["type"]), vals["data"])
	if emit == nil {
		return nil
	}
	now := time.Now()
	for _, c := range emit.Rows {
		c.Source.LSN, c.Source.CommitLSN, c.Source.TxID = walLSN, st.commitLSNText, st.xid
		c.Time = now
		st.buf = strconv.AppendInt(append(st.buf[:0], st.idPrefix...), int64(st.index), 10)
		c.ID = string(st.buf)
		st.index++
		if err := st.sink.Publish(ctx, c); err != nil {
			return err
		}
	}
	return st.sink.Notify(ctx, emit.Done)
}
