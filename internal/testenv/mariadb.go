package testenv

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

const (
	mariaDebPackage = "mariadb-server"
	mariaDatabase   = "ficus"
)

// MariaDB is a running throwaway MariaDB server with a row-based, full-image
// binlog (GTIDs are always on in MariaDB). User root has no password over
// TCP from 127.0.0.1; database "ficus" exists.
type MariaDB struct {
	Host    string
	Port    int
	DataDir string

	socket string
	proc   *process
}

// MariaDBOptions configures StartMariaDB.
type MariaDBOptions struct {
	// Logf receives a line when the server is ready; nil discards it.
	Logf func(format string, args ...any)
}

// StartMariaDB installs a fresh data directory in a temp dir and starts
// mariadbd on a free 127.0.0.1 port. The caller must Close it, which stops
// the server and removes its directory. The error names the Debian package
// to install when the binaries are missing. On error nothing is left running.
func StartMariaDB(ctx context.Context, opts MariaDBOptions) (*MariaDB, error) {
	began := time.Now()
	server, err := findBinary("mariadbd", "/usr/sbin")
	if err != nil {
		return nil, fmt.Errorf("MariaDB not found (install the Debian package %s): %w", mariaDebPackage, err)
	}
	installDB, err := findBinary("mariadb-install-db", "/usr/bin")
	if err != nil {
		return nil, fmt.Errorf("MariaDB not found (install the Debian package %s): %w", mariaDebPackage, err)
	}
	id, err := identityFor("mysql", mariaDebPackage)
	if err != nil {
		return nil, err
	}
	dir, err := id.scratchDir("ficus-testenv-maria-")
	if err != nil {
		return nil, fmt.Errorf("mariadb: %w", err)
	}
	m := &MariaDB{
		Host:    "127.0.0.1",
		DataDir: filepath.Join(dir, "data"),
		socket:  filepath.Join(dir, "mysql.sock"),
	}
	m.proc = &process{
		name:       "mariadb",
		bin:        server,
		dir:        dir,
		logPath:    filepath.Join(dir, "mariadb.log"),
		id:         id,
		stopSignal: syscall.SIGTERM, // normal shutdown; it does not wait for clients
	}
	fail := func(err error) (*MariaDB, error) {
		return nil, errors.Join(fmt.Errorf("mariadb: %w", err), m.Close())
	}

	ctx, cancel := context.WithTimeout(ctx, 2*readyTimeout)
	defer cancel()
	err = id.runTool(ctx, dir, installDB,
		"--no-defaults",
		"--datadir="+m.DataDir,
		"--auth-root-authentication-method=normal",
		"--skip-test-db",
		"--skip-name-resolve",
		// The bootstrap server's temporary tables in the instance's own
		// directory, not the shared /tmp, where installs running at the
		// same time have failed on each other's (or a cleaner's) files.
		"--tmpdir="+dir,
		// A small redo log: the default 96 MiB file costs time and disk.
		"--innodb-log-file-size=16M",
	)
	if err != nil {
		return fail(fmt.Errorf("install data dir: %w", err))
	}
	installed := time.Since(began)
	m.Port, err = startOnFreePort(func(port int, first bool) error {
		m.Port = port
		return m.launch(ctx, !first)
	})
	if err != nil {
		return fail(err)
	}
	if err := m.setup(ctx); err != nil {
		return fail(err)
	}
	logf(opts.Logf, "testenv: mariadb pid %d on 127.0.0.1:%d ready in %s (install %s)",
		m.PID(), m.Port, time.Since(began).Round(time.Millisecond), installed.Round(time.Millisecond))
	return m, nil
}

// Close stops the server (as Stop does) and removes its directory.
func (m *MariaDB) Close() error {
	var errs []error
	if err := m.proc.stop(); err != nil {
		errs = append(errs, fmt.Errorf("stop mariadb: %w", err))
	}
	if err := os.RemoveAll(m.proc.dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", m.proc.dir, err))
	}
	return errors.Join(errs...)
}

// launch starts mariadbd and waits until it accepts connections on its
// unix socket (TCP root access may not exist yet on first start).
func (m *MariaDB) launch(ctx context.Context, truncateLog bool) error {
	m.proc.args = []string{
		"--no-defaults", // must come first
		"--datadir=" + m.DataDir,
		"--socket=" + m.socket,
		"--port=" + strconv.Itoa(m.Port),
		"--bind-address=127.0.0.1",
		"--pid-file=" + filepath.Join(m.proc.dir, "mariadbd.pid"),
		"--tmpdir=" + m.proc.dir,
		"--log-bin=" + filepath.Join(m.DataDir, "binlog"),
		"--binlog-format=ROW",
		"--binlog-row-image=FULL",
		"--binlog-row-metadata=FULL",
		// Unique per instance, so replication clients can tell servers apart.
		"--server-id=" + strconv.Itoa(m.Port),
		"--log-slave-updates",
		"--gtid-strict-mode=1",
		"--skip-name-resolve",
		"--character-set-server=utf8mb4",
		"--collation-server=utf8mb4_general_ci",
		"--innodb-buffer-pool-size=64M",
		"--innodb-log-file-size=16M",
		"--innodb_flush_log_at_trx_commit=2",
	}
	if err := m.proc.start(truncateLog); err != nil {
		return err
	}
	err := m.proc.waitReady(ctx, func(ctx context.Context) error {
		return pingDSN(ctx, m.socketDSN())
	})
	if err != nil {
		return errors.Join(err, m.proc.kill())
	}
	return nil
}

// setup gives root password-less TCP access from 127.0.0.1 and creates the
// "ficus" database. It runs once, over the unix socket as root@localhost.
func (m *MariaDB) setup(ctx context.Context) error {
	db, err := sql.Open("mysql", m.socketDSN())
	if err != nil {
		return fmt.Errorf("open socket connection: %w", err)
	}
	defer db.Close()
	for _, stmt := range []string{
		"CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'",
		"GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION",
		"CREATE DATABASE IF NOT EXISTS " + mariaDatabase,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("setup %q: %w", stmt, err)
		}
	}
	if err := pingDSN(ctx, m.DSN()); err != nil {
		return fmt.Errorf("connect as root over TCP: %w", err)
	}
	return nil
}

func (m *MariaDB) socketDSN() string {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "unix"
	cfg.Addr = m.socket
	return cfg.FormatDSN()
}

func pingDSN(ctx context.Context, dsn string) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.PingContext(ctx)
}

// DSN is a go-sql-driver/mysql DSN for database "ficus", e.g.
// root@tcp(127.0.0.1:PORT)/ficus?parseTime=false.
func (m *MariaDB) DSN() string {
	return fmt.Sprintf("root@tcp(%s:%d)/%s?parseTime=false", m.Host, m.Port, mariaDatabase)
}

// PID is mariadbd's PID, or 0 while the server is stopped.
func (m *MariaDB) PID() int { return m.proc.pid() }

// LogTail returns the end of the server log, for diagnostics.
func (m *MariaDB) LogTail() string { return m.proc.logTail() }

// DB opens a connection pool to database "ficus", closed at test end.
func (m *MariaDB) DB(t TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", m.DSN())
	if err != nil {
		t.Fatalf("testenv: open mariadb: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// Exec runs one statement in database "ficus" and fails the test on error.
func (m *MariaDB) Exec(t TB, query string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	db, err := sql.Open("mysql", m.DSN())
	if err != nil {
		t.Fatalf("testenv: open mariadb: %v", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, query, args...); err != nil {
		t.Fatalf("testenv: mariadb exec %q: %v", query, err)
	}
}

// QueryString runs a query returning one value and returns it as text.
func (m *MariaDB) QueryString(t TB, query string, args ...any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	db, err := sql.Open("mysql", m.DSN())
	if err != nil {
		t.Fatalf("testenv: open mariadb: %v", err)
	}
	defer db.Close()
	var s sql.NullString
	if err := db.QueryRowContext(ctx, query, args...).Scan(&s); err != nil {
		t.Fatalf("testenv: mariadb query %q: %v", query, err)
	}
	return s.String
}

// Stop shuts the server down cleanly, waiting up to 10s before SIGKILL.
func (m *MariaDB) Stop(t TB) {
	t.Helper()
	if err := m.proc.stop(); err != nil {
		t.Fatalf("testenv: stop mariadb: %v", err)
	}
}

// Kill simulates a crash with SIGKILL; Restart then runs crash recovery.
func (m *MariaDB) Kill(t TB) {
	t.Helper()
	if err := m.proc.kill(); err != nil {
		t.Fatalf("testenv: kill mariadb: %v", err)
	}
}

// Restart stops the server if it is running and starts it again on the
// same port with the same data directory (binlogs included).
func (m *MariaDB) Restart(t TB) {
	t.Helper()
	began := time.Now()
	if err := m.proc.stop(); err != nil {
		t.Fatalf("testenv: restart mariadb: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := m.launch(ctx, false); err != nil {
		t.Fatalf("testenv: restart mariadb on port %d: %v", m.Port, err)
	}
	if err := pingDSN(ctx, m.DSN()); err != nil {
		t.Fatalf("testenv: restart mariadb: connect over TCP: %v", err)
	}
	t.Logf("testenv: mariadb restarted as pid %d in %s", m.PID(), time.Since(began).Round(time.Millisecond))
}
