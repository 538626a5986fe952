package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/ficus-migrate/ficus/capture"
)

// server is what the prerequisite check learned about the server.
type server struct {
	flavor   string
	version  string
	gtid     bool   // MySQL gtid_mode=ON; always true for MariaDB
	serverID uint32 // the server's own server_id
}

type tableRef struct{ DB, Name string }

func (t tableRef) String() string { return t.DB + "." + t.Name }

// checkServer refuses to start, with a permanent error saying what to change,
// unless the binlog carries full row images with full metadata.
func (s *Source) checkServer(ctx context.Context, db *sql.DB) (server, error) {
	var srv server
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&srv.version); err != nil {
		return srv, fmt.Errorf("read server version: %w", err)
	}
	srv.flavor = FlavorMySQL
	if strings.Contains(strings.ToLower(srv.version), "mariadb") {
		srv.flavor = FlavorMariaDB
	}
	vars, err := globalVariables(ctx, db, "log_bin", "binlog_format", "binlog_row_image", "binlog_row_metadata", "gtid_mode", "server_id")
	if err != nil {
		return srv, err
	}
	var problems []string
	if !strings.EqualFold(vars["log_bin"], "ON") && vars["log_bin"] != "1" {
		problems = append(problems, "the binary log is disabled (start the server with log_bin)")
	}
	for _, want := range []struct{ name, value string }{
		{"binlog_format", "ROW"}, {"binlog_row_image", "FULL"}, {"binlog_row_metadata", "FULL"},
	} {
		got, ok := vars[want.name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("the server has no %s variable (MySQL 8.0.1+ or MariaDB 10.5+ is required)", want.name))
		case !strings.EqualFold(got, want.value):
			problems = append(problems, fmt.Sprintf("%s is %s, want %s", want.name, got, want.value))
		}
	}
	if len(problems) > 0 {
		return srv, capture.Permanent(fmt.Errorf("source %q: server %s is not set up for row-based capture: %s "+
			"(set them in the server configuration and with SET GLOBAL)", s.cfg.Name, srv.version, strings.Join(problems, "; ")))
	}
	srv.gtid = srv.flavor == FlavorMariaDB || strings.EqualFold(vars["gtid_mode"], "ON")
	id, _ := strconv.ParseUint(vars["server_id"], 10, 32)
	srv.serverID = uint32(id)
	if srv.serverID == s.cfg.ServerID {
		return srv, capture.Permanent(fmt.Errorf("source %q: server_id %d is the server's own server_id; choose one unique among its replicas",
			s.cfg.Name, s.cfg.ServerID))
	}
	return srv, nil
}

func globalVariables(ctx context.Context, db *sql.DB, names ...string) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('"+strings.Join(names, "','")+"')")
	if err != nil {
		return nil, fmt.Errorf("read server variables: %w", err)
	}
	defer rows.Close()
	vars := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("read server variables: %w", err)
		}
		vars[strings.ToLower(k)] = v
	}
	return vars, rows.Err()
}

// resolveTables lists the tables to snapshot: the configured ones (each must
// exist) or every base table of the DSN's database.
func (s *Source) resolveTables(ctx context.Context, db *sql.DB) ([]tableRef, error) {
	if len(s.cfg.Tables) == 0 {
		rows, err := db.QueryContext(ctx, `SELECT TABLE_NAME FROM information_schema.TABLES
			WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME`, s.conn.database)
		if err != nil {
			return nil, fmt.Errorf("list tables: %w", err)
		}
		defer rows.Close()
		var out []tableRef
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				return nil, fmt.Errorf("list tables: %w", err)
			}
			if !s.isSignal(s.conn.database, n) { // watermarks, never table events
				out = append(out, tableRef{DB: s.conn.database, Name: n})
			}
		}
		return out, rows.Err()
	}
	var out []tableRef
	for _, t := range s.cfg.Tables {
		d, n, _ := splitTable(t)
		var typ string
		err := db.QueryRowContext(ctx, `SELECT TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`,
			d, n).Scan(&typ)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, capture.Permanent(fmt.Errorf("source %q: table %s not found", s.cfg.Name, t))
		}
		if err != nil {
			return nil, fmt.Errorf("look up table %s: %w", t, err)
		}
		if typ != "BASE TABLE" {
			return nil, capture.Permanent(fmt.Errorf("source %q: %s is a %s, not a table", s.cfg.Name, t, typ))
		}
		out = append(out, tableRef{DB: d, Name: n})
	}
	return out, nil
}

// currentPosition is where the binlog ends now (snapshot: never).
func (s *Source) currentPosition(ctx context.Context, db *sql.DB, srv server) (Position, error) {
	p := Position{Flavor: srv.flavor}
	file, pos, gtid, err := binlogStatus(ctx, db)
	if err != nil {
		return p, err
	}
	p.File, p.Pos = file, pos
	switch {
	case srv.flavor == FlavorMariaDB:
		if err := db.QueryRowContext(ctx, "SELECT BINLOG_GTID_POS(?, ?)", file, pos).Scan(&p.GTID); err != nil {
			return p, fmt.Errorf("read gtid position at %s:%d: %w", file, pos, err)
		}
	case srv.gtid:
		p.GTID = gtid
	}
	return p, nil
}

// binlogStatus runs SHOW BINARY LOG STATUS (MySQL 8.2+) or SHOW MASTER STATUS.
func binlogStatus(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) (file string, pos uint32, gtid string, err error) {
	var rows *sql.Rows
	for _, stmt := range []string{"SHOW BINARY LOG STATUS", "SHOW MASTER STATUS"} {
		if rows, err = q.QueryContext(ctx, stmt); err == nil {
			break
		}
	}
	if err != nil {
		return "", 0, "", fmt.Errorf("show binary log status: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", 0, "", fmt.Errorf("show binary log status: %w", err)
	}
	if !rows.Next() {
		return "", 0, "", capture.Permanent(errors.New("show binary log status returned no row: the binary log is disabled"))
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return "", 0, "", fmt.Errorf("show binary log status: %w", err)
	}
	for i, c := range cols {
		switch c {
		case "File":
			file = vals[i].String
		case "Position":
			p, _ := strconv.ParseUint(vals[i].String, 10, 32)
			pos = uint32(p)
		case "Executed_Gtid_Set":
			gtid = strings.ReplaceAll(vals[i].String, "\n", "")
		}
	}
	return file, pos, gtid, rows.Err()
}
