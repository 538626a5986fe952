package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	pgBinDir     = "/usr/lib/postgresql/15/bin"
	pgDebPackage = "postgresql-15"
	pgUser       = "ficus"
	pgDatabase   = "ficus"
)

// pgHBA trusts every local and 127.0.0.1 connection, including replication.
const pgHBA = `# written by ficus testenv
local   all          all                 trust
host    all          all    127.0.0.1/32 trust
local   replication  all                 trust
host    replication  all    127.0.0.1/32 trust
`

// Postgres is a running throwaway PostgreSQL 15 server with logical
// replication enabled. User is a superuser with replication rights;
// authentication is "trust", so DSNs carry no password.
type Postgres struct {
	Host     string
	Port     int
	User     string
	Database string
	DataDir  string
	// Settings are extra "name=value" server settings, after (and so over)
	// the defaults; changes take effect at the next Restart.
	Settings []string

	socketDir string
	proc      *process
}

// PostgresOptions configures StartPostgres.
type PostgresOptions struct {
	// Settings are extra "name=value" server settings, applied from the
	// first start on (Postgres.Settings holds them for later restarts).
	Settings []string
	// Logf receives a line when the server is ready; nil discards it.
	Logf func(format string, args ...any)
}

// StartPostgres initialises a fresh cluster in a temp dir and starts it on a
// free 127.0.0.1 port. The caller must Close it, which stops the server and
// removes its directory. The error names the Debian package to install when
// the binaries are missing. On error nothing is left running.
func StartPostgres(ctx context.Context, opts PostgresOptions) (*Postgres, error) {
	began := time.Now()
	initdb, err := findBinary("initdb", pgBinDir)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL 15 not found (install the Debian package %s): %w", pgDebPackage, err)
	}
	server, err := findBinary("postgres", pgBinDir)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL 15 not found (install the Debian package %s): %w", pgDebPackage, err)
	}
	id, err := identityFor("postgres", pgDebPackage)
	if err != nil {
		return nil, err
	}
	dir, err := id.scratchDir("ficus-testenv-pg-")
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	p := &Postgres{
		Host:      "127.0.0.1",
		User:      pgUser,
		Database:  pgDatabase,
		DataDir:   filepath.Join(dir, "data"),
		Settings:  opts.Settings,
		socketDir: dir,
	}
	p.proc = &process{
		name:    "postgres",
		bin:     server,
		dir:     dir,
		logPath: filepath.Join(dir, "postgres.log"),
		id:      id,
		// SIGTERM is "smart" shutdown, which waits for every client
		// (including a leaked replication connection) to leave; SIGINT is
		// "fast" shutdown: clean, but it disconnects clients.
		stopSignal: syscall.SIGINT,
	}
	fail := func(err error) (*Postgres, error) {
		return nil, errors.Join(fmt.Errorf("postgres: %w", err), p.Close())
	}

	ctx, cancel := context.WithTimeout(ctx, 2*readyTimeout)
	defer cancel()
	if err := p.initCluster(ctx, initdb); err != nil {
		return fail(err)
	}
	initialised := time.Since(began)
	p.Port, err = startOnFreePort(func(port int, first bool) error {
		p.Port = port
		return p.launch(ctx, !first)
	})
	if err != nil {
		return fail(err)
	}
	if err := p.createDatabase(ctx); err != nil {
		return fail(err)
	}
	logf(opts.Logf, "testenv: postgres pid %d on 127.0.0.1:%d ready in %s (initdb %s)",
		p.PID(), p.Port, time.Since(began).Round(time.Millisecond), initialised.Round(time.Millisecond))
	return p, nil
}

// Close stops the server (as Stop does) and removes its directory.
func (p *Postgres) Close() error {
	var errs []error
	if err := p.proc.stop(); err != nil {
		errs = append(errs, fmt.Errorf("stop postgres: %w", err))
	}
	if err := os.RemoveAll(p.socketDir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", p.socketDir, err))
	}
	return errors.Join(errs...)
}

func (p *Postgres) initCluster(ctx context.Context, initdb string) error {
	// -N: durability of a throwaway cluster does not matter, speed does.
	err := p.proc.id.runTool(ctx, p.socketDir, initdb,
		"-D", p.DataDir, "--auth=trust", "-U", pgUser, "-E", "UTF8", "--locale=C", "-N")
	if err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	hba := filepath.Join(p.DataDir, "pg_hba.conf")
	// Rewriting the existing file keeps its owner (the server user).
	if err := os.WriteFile(hba, []byte(pgHBA), 0o600); err != nil {
		return fmt.Errorf("write pg_hba.conf: %w", err)
	}
	return p.proc.id.chown(hba)
}

// launch starts the postmaster directly (not via pg_ctl) so that the PID we
// hold is the server's, then waits until it accepts connections.
func (p *Postgres) launch(ctx context.Context, truncateLog bool) error {
	p.proc.args = []string{
		"-D", p.DataDir,
		"-p", strconv.Itoa(p.Port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=" + p.socketDir,
		"-c", "wal_level=logical",
		"-c", "max_replication_slots=20",
		"-c", "max_wal_senders=20",
		// fsync=off is safe even for SIGKILL tests: the OS page cache
		// survives a process crash, only a machine crash would lose data.
		"-c", "fsync=off",
		"-c", "synchronous_commit=on",
		"-c", "shared_buffers=32MB",
	}
	for _, kv := range p.Settings {
		p.proc.args = append(p.proc.args, "-c", kv)
	}
	if err := p.proc.start(truncateLog); err != nil {
		return err
	}
	err := p.proc.waitReady(ctx, func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, p.dsn("postgres", ""))
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
	if err != nil {
		return errors.Join(err, p.proc.kill())
	}
	return nil
}

func (p *Postgres) createDatabase(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, p.dsn("postgres", ""))
	if err != nil {
		return fmt.Errorf("connect to create database %q: %w", p.Database, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{p.Database}.Sanitize()); err != nil {
		return fmt.Errorf("create database %q: %w", p.Database, err)
	}
	return nil
}

func (p *Postgres) dsn(database, extra string) string {
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable%s", p.User, p.Host, p.Port, database, extra)
}

// DSN is a libpq/pgx URL for the "ficus" database, e.g.
// postgres://ficus@127.0.0.1:PORT/ficus?sslmode=disable.
func (p *Postgres) DSN() string { return p.dsn(p.Database, "") }

// ReplicationDSN is DSN plus replication=database, for logical replication
// connections (pglogrepl).
func (p *Postgres) ReplicationDSN() string { return p.dsn(p.Database, "&replication=database") }

// PID is the postmaster's PID, or 0 while the server is stopped.
func (p *Postgres) PID() int { return p.proc.pid() }

// LogTail returns the end of the server log, for diagnostics.
func (p *Postgres) LogTail() string { return p.proc.logTail() }

// Conn opens a connection to the "ficus" database, closed at test end.
func (p *Postgres) Conn(t TB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.DSN())
	if err != nil {
		t.Fatalf("testenv: connect to postgres: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		_ = conn.Close(ctx) // the server may already be gone
	})
	return conn
}

// Exec runs one statement in the "ficus" database on a fresh connection
// and fails the test on error.
func (p *Postgres) Exec(t TB, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.DSN())
	if err != nil {
		t.Fatalf("testenv: connect to postgres: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("testenv: postgres exec %q: %v", sql, err)
	}
}

// QueryString runs a query returning one value and returns it as text
// (the server's own text form, via ::text casts where needed).
func (p *Postgres) QueryString(t TB, sql string, args ...any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.DSN())
	if err != nil {
		t.Fatalf("testenv: connect to postgres: %v", err)
	}
	defer conn.Close(ctx)
	var s string
	if err := conn.QueryRow(ctx, sql, args...).Scan(&s); err != nil {
		t.Fatalf("testenv: postgres query %q: %v", sql, err)
	}
	return s
}

// Stop shuts the server down cleanly (fast shutdown: clients are
// disconnected), waiting up to 10s before SIGKILL.
func (p *Postgres) Stop(t TB) {
	t.Helper()
	if err := p.proc.stop(); err != nil {
		t.Fatalf("testenv: stop postgres: %v", err)
	}
}

// Kill simulates a crash: SIGKILL to the postmaster and its backends.
// Restart then performs crash recovery.
func (p *Postgres) Kill(t TB) {
	t.Helper()
	if err := p.proc.kill(); err != nil {
		t.Fatalf("testenv: kill postgres: %v", err)
	}
}

// Restart stops the server if it is running and starts it again on the
// same port with the same data directory.
func (p *Postgres) Restart(t TB) {
	t.Helper()
	began := time.Now()
	if err := p.proc.stop(); err != nil {
		t.Fatalf("testenv: restart postgres: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := p.launch(ctx, false); err != nil {
		t.Fatalf("testenv: restart postgres on port %d: %v", p.Port, err)
	}
	t.Logf("testenv: postgres restarted as pid %d in %s", p.PID(), time.Since(began).Round(time.Millisecond))
}
