package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/ficus-migrate/ficus/capture"
)

// table is a captured table as found in the catalog.
type table struct {
	Schema, Name string
	OID          uint32
	PK           []string // primary key columns in key order; empty if none
	Identity     byte     // pg_class.relreplident: d, f, i, n
	Reltuples    float64
}

func (t table) qualified() string { return quoteIdent(t.Schema) + "." + quoteIdent(t.Name) }
func (t table) String() string    { return t.Schema + "." + t.Name }

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// checkPrereqs verifies server settings and each table's replica identity and
// returns the tables to capture. Problems the user must fix are permanent.
func (s *Source) checkPrereqs(ctx context.Context, conn *pgx.Conn) ([]table, error) {
	var walLevel string
	if err := conn.QueryRow(ctx, "SHOW wal_level").Scan(&walLevel); err != nil {
		return nil, fmt.Errorf("read wal_level: %w", err)
	}
	if walLevel != "logical" {
		return nil, capture.Permanent(fmt.Errorf("source %q: wal_level is %q, logical decoding needs wal_level=logical "+
			"(set it in postgresql.conf and restart PostgreSQL)", s.cfg.Name, walLevel))
	}
	var user string
	var canReplicate bool
	if err := conn.QueryRow(ctx,
		"SELECT current_user, rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user",
	).Scan(&user, &canReplicate); err != nil {
		return nil, fmt.Errorf("read replication privilege: %w", err)
	}
	if !canReplicate {
		return nil, capture.Permanent(fmt.Errorf("source %q: role %q lacks the REPLICATION attribute "+
			"(ALTER ROLE %s REPLICATION)", s.cfg.Name, user, quoteIdent(user)))
	}
	tables, err := s.loadTables(ctx, conn)
	if err != nil {
		return nil, err
	}
	for _, t := range tables {
		switch {
		case t.Identity == 'n' || (t.Identity == 'd' && len(t.PK) == 0):
			return nil, capture.Permanent(fmt.Errorf("source %q: table %s has no primary key and REPLICA IDENTITY %s: "+
				"updates and deletes cannot be captured (add a primary key or ALTER TABLE %s REPLICA IDENTITY FULL)",
				s.cfg.Name, t, identityName(t.Identity), t.qualified()))
		case t.Identity != 'f' && !s.warned[t.String()]:
			s.warned[t.String()] = true
			s.log.Warn("table does not have REPLICA IDENTITY FULL: updates and deletes carry only the key columns in before "+
				"(ALTER TABLE ... REPLICA IDENTITY FULL for full before images)",
				"table", t.String(), "replica_identity", identityName(t.Identity))
		}
	}
	return tables, nil
}

func identityName(b byte) string {
	switch b {
	case 'd':
		return "DEFAULT"
	case 'f':
		return "FULL"
	case 'i':
		return "USING INDEX"
	case 'n':
		return "NOTHING"
	}
	return string(b)
}

const tablesQuery = `
SELECT n.nspname, c.relname, c.oid, c.relreplident, c.reltuples::float8,
       COALESCE((SELECT array_agg(a.attname::text ORDER BY k.ord)
                 FROM pg_index i
                 CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                 WHERE i.indrelid = c.oid AND i.indisprimary), '{}')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
  AND ($1::text[] IS NULL OR (n.nspname, c.relname) IN (SELECT * FROM unnest($1::text[], $2::text[])))
ORDER BY 1, 2`

func (s *Source) loadTables(ctx context.Context, conn *pgx.Conn) ([]table, error) {
	// Schema and name are matched apart: "public.a.b" is table "a.b" of
	// schema public (split at the first dot), never table "b" of "public.a".
	var schemas, names []string
	for _, t := range s.cfg.Tables {
		schema, name, _ := splitTable(t)
		schemas, names = append(schemas, schema), append(names, name)
	}
	rows, err := conn.Query(ctx, tablesQuery, schemas, names)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (table, error) {
		var t table
		var ident string
		err := r.Scan(&t.Schema, &t.Name, &t.OID, &ident, &t.Reltuples, &t.PK)
		if len(ident) == 1 {
			t.Identity = ident[0]
		}
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	if s.cfg.Backfill != nil {
		// The signal table's changes are watermarks, never table events.
		tables = slices.DeleteFunc(tables, func(t table) bool { return t.String() == s.cfg.SignalTable })
	}
	for _, want := range s.cfg.Tables {
		if !slices.ContainsFunc(tables, func(t table) bool { return t.String() == want }) {
			return nil, capture.Permanent(fmt.Errorf("source %q: table %s not found", s.cfg.Name, want))
		}
	}
	return tables, nil
}

// ensurePublication creates the publication if missing, and aligns its table
// list with the configuration when it was created for a different one.
func (s *Source) ensurePublication(ctx context.Context, conn *pgx.Conn, tables []table) error {
	pub := quoteIdent(s.cfg.Publication)
	var allTables bool
	err := conn.QueryRow(ctx, "SELECT puballtables FROM pg_publication WHERE pubname = $1", s.cfg.Publication).Scan(&allTables)
	exists := err == nil
	if err != nil && err != pgx.ErrNoRows {
		return fmt.Errorf("read publication %q: %w", s.cfg.Publication, err)
	}
	signal, err := s.signalExists(ctx, conn)
	if err != nil {
		return err
	}
	if signal {
		tables = append(slices.Clip(tables), s.signalTable())
	}
	list := make([]string, len(tables))
	for i, t := range tables {
		list[i] = t.qualified()
	}
	switch {
	case !exists && len(s.cfg.Tables) == 0:
		_, err = conn.Exec(ctx, "CREATE PUBLICATION "+pub+" FOR ALL TABLES")
	case !exists:
		_, err = conn.Exec(ctx, "CREATE PUBLICATION "+pub+" FOR TABLE "+strings.Join(list, ", "))
	case len(s.cfg.Tables) == 0 || allTables:
		if !allTables {
			s.log.Warn("publication exists with a table list but all tables are configured; keeping it", "publication", s.cfg.Publication)
		} else if len(s.cfg.Tables) > 0 {
			// PostgreSQL cannot turn FOR ALL TABLES into a list, and
			// dropping a publication its slot streams from is unsafe before
			// PostgreSQL 18: the reader leaves the other tables out instead.
			s.narrow = true
			s.log.Warn("publication is FOR ALL TABLES but a table list is configured; keeping it: the reader publishes "+
				"only the configured tables, the server still decodes every table's changes (recreate the publication "+
				"with no writes in between to spare it that)", "publication", s.cfg.Publication)
		}
		return nil
	default:
		var current []string
		if err := conn.QueryRow(ctx, `SELECT COALESCE(array_agg(schemaname || '.' || tablename ORDER BY 1), '{}')
			FROM pg_publication_tables WHERE pubname = $1`, s.cfg.Publication).Scan(&current); err != nil {
			return fmt.Errorf("read publication %q tables: %w", s.cfg.Publication, err)
		}
		want := make([]string, len(tables))
		for i, t := range tables {
			want[i] = t.String()
		}
		slices.Sort(want)
		if slices.Equal(current, want) {
			return nil
		}
		s.log.Info("updating publication table list", "publication", s.cfg.Publication, "tables", want)
		_, err = conn.Exec(ctx, "ALTER PUBLICATION "+pub+" SET TABLE "+strings.Join(list, ", "))
	}
	if err != nil {
		return fmt.Errorf("create publication %q: %w", s.cfg.Publication, err)
	}
	return nil
}
