package testenv

import (
	"context"
	"errors"
	"os"
	"os/user"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go/jetstream"
)

func TestFreePort(t *testing.T) {
	port := FreePort(t)
	if port <= 0 || port > 65535 {
		t.Fatalf("FreePort = %d, want 1..65535", port)
	}
	for _, reserved := range []int{5432, 3306, 4222} {
		if port == reserved {
			t.Fatalf("FreePort returned the standard port %d", port)
		}
	}
}

func TestPostgresSettings(t *testing.T) {
	pg := MustStartPostgres(t)

	if pg.Host != "127.0.0.1" || pg.User != "ficus" || pg.Database != "ficus" {
		t.Errorf("Postgres = %+v, want host 127.0.0.1, user and database ficus", pg)
	}
	wantDSN := "postgres://ficus@127.0.0.1:" + strconv.Itoa(pg.Port) + "/ficus?sslmode=disable"
	if got := pg.DSN(); got != wantDSN {
		t.Errorf("DSN() = %q, want %q", got, wantDSN)
	}
	if got := pg.ReplicationDSN(); got != wantDSN+"&replication=database" {
		t.Errorf("ReplicationDSN() = %q", got)
	}
	if pg.Port == 5432 {
		t.Errorf("postgres uses the standard port 5432")
	}
	assertProcessAlive(t, pg.PID())
	if _, err := os.Stat(pg.DataDir + "/PG_VERSION"); err != nil {
		t.Errorf("DataDir %s is not a cluster: %v", pg.DataDir, err)
	}

	settings := []struct {
		query, want string
	}{
		{"SHOW wal_level", "logical"},
		{"SHOW max_replication_slots", "20"},
		{"SHOW max_wal_senders", "20"},
		{"SHOW listen_addresses", "127.0.0.1"},
		{"SHOW synchronous_commit", "on"},
		{"SHOW server_version_num", ""}, // checked below
		{"SELECT current_user", "ficus"},
		{"SELECT current_database()", "ficus"},
		{"SELECT rolsuper::text FROM pg_roles WHERE rolname = current_user", "true"},
		{"SELECT rolreplication::text FROM pg_roles WHERE rolname = current_user", "true"},
	}
	for _, s := range settings {
		got := pg.QueryString(t, s.query)
		if s.query == "SHOW server_version_num" {
			if v, err := strconv.Atoi(got); err != nil || v/10000 != 15 {
				t.Errorf("%s = %q, want PostgreSQL 15", s.query, got)
			}
			continue
		}
		if got != s.want {
			t.Errorf("%s = %q, want %q", s.query, got, s.want)
		}
	}

	pg.Exec(t, "CREATE TABLE items (id int PRIMARY KEY, name text)")
	pg.Exec(t, "INSERT INTO items VALUES ($1, $2)", 1, "one")
	if got := pg.QueryString(t, "SELECT name FROM items WHERE id = $1", 1); got != "one" {
		t.Errorf("inserted row name = %q, want one", got)
	}
}

func TestPostgresLogicalReplicationSlot(t *testing.T) {
	pg := MustStartPostgres(t)
	pg.Exec(t, "CREATE TABLE t (id int PRIMARY KEY)")
	pg.Exec(t, "CREATE PUBLICATION pub FOR TABLE t")

	// A replication-protocol connection proves pg_hba allows replication
	// from 127.0.0.1 and that wal_level/max_wal_senders are in effect.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgconn.Connect(ctx, pg.ReplicationDSN())
	if err != nil {
		t.Fatalf("replication connect: %v", err)
	}
	defer conn.Close(ctx)
	res := conn.Exec(ctx, "CREATE_REPLICATION_SLOT ficus_test LOGICAL pgoutput")
	if _, err := res.ReadAll(); err != nil {
		t.Fatalf("create logical slot over replication protocol: %v", err)
	}
	if got := pg.QueryString(t, "SELECT plugin FROM pg_replication_slots WHERE slot_name = 'ficus_test'"); got != "pgoutput" {
		t.Errorf("slot plugin = %q, want pgoutput", got)
	}
}

func TestPostgresRestartKeepsData(t *testing.T) {
	pg := MustStartPostgres(t)
	pg.Exec(t, "CREATE TABLE kept (v text)")
	pg.Exec(t, "INSERT INTO kept VALUES ('before stop')")
	port, dataDir, firstPID := pg.Port, pg.DataDir, pg.PID()

	pg.Stop(t)
	if pid := pg.PID(); pid != 0 {
		t.Fatalf("PID after Stop = %d, want 0", pid)
	}
	assertProcessGone(t, firstPID)
	pg.Restart(t)
	if pg.Port != port || pg.DataDir != dataDir {
		t.Fatalf("after Restart port/dir = %d %s, want %d %s", pg.Port, pg.DataDir, port, dataDir)
	}
	if got := pg.QueryString(t, "SELECT v FROM kept"); got != "before stop" {
		t.Fatalf("after clean restart got %q", got)
	}

	// A committed row must survive SIGKILL of the whole server too.
	pg.Exec(t, "INSERT INTO kept VALUES ('before kill')")
	// Backends call setsid(), so Kill must find them by parentage; an
	// orphaned backend would block the restart below.
	var backendPID int
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pg.Conn(t).QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backendPID); err != nil {
		t.Fatalf("backend pid: %v", err)
	}
	killedPID := pg.PID()
	pg.Kill(t)
	assertProcessGone(t, killedPID)
	if st, ok := readProc(backendPID); ok && st.live() {
		t.Fatalf("backend %d still alive after Kill: %+v", backendPID, st)
	}
	pg.Restart(t)
	if got := pg.QueryString(t, "SELECT count(*)::text FROM kept"); got != "2" {
		t.Fatalf("after kill+restart row count = %s, want 2", got)
	}
	if pg.PID() == killedPID {
		t.Errorf("Restart kept the killed PID %d", killedPID)
	}
}

func TestTwoPostgresInstances(t *testing.T) {
	a := MustStartPostgres(t)
	b := MustStartPostgres(t)
	if a.Port == b.Port {
		t.Fatalf("both instances on port %d", a.Port)
	}
	if a.DataDir == b.DataDir {
		t.Fatalf("both instances in %s", a.DataDir)
	}
	a.Exec(t, "CREATE TABLE only_in_a (id int)")
	if got := b.QueryString(t, "SELECT count(*)::text FROM pg_tables WHERE tablename = 'only_in_a'"); got != "0" {
		t.Fatalf("table created in a is visible in b")
	}
}

func TestNATSJetStream(t *testing.T) {
	n := MustStartNATS(t)
	if n.Port == 4222 {
		t.Errorf("nats uses the standard port 4222")
	}
	if want := "nats://127.0.0.1:" + strconv.Itoa(n.Port); n.URL != want {
		t.Errorf("URL = %q, want %q", n.URL, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	js := jetStream(t, n)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:     "KEEP",
		Subjects: []string{"keep.>"},
		Storage:  jetstream.FileStorage,
	}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	ack, err := js.Publish(ctx, "keep.one", []byte("survives restart"))
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if ack.Stream != "KEEP" || ack.Sequence != 1 {
		t.Fatalf("ack = %+v, want stream KEEP seq 1", ack)
	}

	port := n.Port
	n.Restart(t)
	if n.Port != port {
		t.Fatalf("port after Restart = %d, want %d", n.Port, port)
	}
	js = jetStream(t, n)
	stream, err := js.Stream(ctx, "KEEP")
	if err != nil {
		t.Fatalf("stream after restart: %v", err)
	}
	msg, err := stream.GetMsg(ctx, 1)
	if err != nil {
		t.Fatalf("get msg 1 after restart: %v", err)
	}
	if string(msg.Data) != "survives restart" {
		t.Fatalf("msg after restart = %q", msg.Data)
	}
}

func TestNATSStop(t *testing.T) {
	n := MustStartNATS(t)
	nc := n.Connect(t)
	if err := nc.Flush(); err != nil {
		t.Fatalf("flush before stop: %v", err)
	}
	n.Stop(t)
	if n.Server() != nil {
		t.Fatalf("Server() after Stop is not nil")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := nc.FlushWithContext(ctx); err == nil {
		t.Fatalf("flush succeeded after Stop")
	}
}

func jetStream(t *testing.T, n *NATS) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(n.Connect(t))
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return js
}

func assertProcessAlive(t *testing.T, pid int) {
	t.Helper()
	if pid <= 0 {
		t.Fatalf("PID = %d, want a running process", pid)
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		t.Fatalf("process %d not alive: %v", pid, err)
	}
}

func assertProcessGone(t *testing.T, pid int) {
	t.Helper()
	// The helpers reap their children, so the PID disappears at once
	// (barring reuse by an unrelated process, which a 2s race won't hit).
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("process %d still exists after stop (kill 0: %v)", pid, err)
	}
}

func TestMariaDBSettings(t *testing.T) {
	m := MustStartMariaDB(t)
	if m.Host != "127.0.0.1" || m.Port == 3306 {
		t.Errorf("MariaDB = %+v, want 127.0.0.1 on a non-standard port", m)
	}
	wantDSN := "root@tcp(127.0.0.1:" + strconv.Itoa(m.Port) + ")/ficus?parseTime=false"
	if got := m.DSN(); got != wantDSN {
		t.Errorf("DSN() = %q, want %q", got, wantDSN)
	}
	assertProcessAlive(t, m.PID())

	settings := []struct {
		query, want string
	}{
		{"SELECT @@log_bin", "1"},
		{"SELECT @@binlog_format", "ROW"},
		{"SELECT @@binlog_row_image", "FULL"},
		{"SELECT @@binlog_row_metadata", "FULL"},
		{"SELECT @@gtid_strict_mode", "1"},
		{"SELECT @@log_slave_updates", "1"},
		{"SELECT @@server_id", strconv.Itoa(m.Port)},
		{"SELECT @@bind_address", "127.0.0.1"},
		{"SELECT @@port", strconv.Itoa(m.Port)},
		{"SELECT @@character_set_server", "utf8mb4"},
		{"SELECT DATABASE()", "ficus"},
		{"SELECT CURRENT_USER()", "root@127.0.0.1"},
	}
	for _, s := range settings {
		if got := m.QueryString(t, s.query); got != s.want {
			t.Errorf("%s = %q, want %q", s.query, got, s.want)
		}
	}
	if got := m.QueryString(t, "SELECT COUNT(*) FROM information_schema.user_privileges WHERE GRANTEE = \"'root'@'127.0.0.1'\" AND PRIVILEGE_TYPE = 'REPLICATION SLAVE'"); got != "1" {
		t.Errorf("root@127.0.0.1 lacks REPLICATION SLAVE (count %s)", got)
	}

	before := m.QueryString(t, "SELECT @@gtid_binlog_pos")
	m.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20))")
	m.Exec(t, "INSERT INTO items VALUES (?, ?)", 1, "one")
	after := m.QueryString(t, "SELECT @@gtid_binlog_pos")
	if after == "" || after == before {
		t.Errorf("gtid_binlog_pos before %q after %q: want a new GTID after an insert", before, after)
	}
	wantPrefix := "0-" + strconv.Itoa(m.Port) + "-"
	if len(after) <= len(wantPrefix) || after[:len(wantPrefix)] != wantPrefix {
		t.Errorf("gtid_binlog_pos = %q, want domain 0 and server id %d", after, m.Port)
	}
}

func TestMariaDBRestartKeepsData(t *testing.T) {
	m := MustStartMariaDB(t)
	m.Exec(t, "CREATE TABLE kept (v VARCHAR(20))")
	m.Exec(t, "INSERT INTO kept VALUES ('before stop')")
	port, firstPID := m.Port, m.PID()
	gtid := m.QueryString(t, "SELECT @@gtid_binlog_pos")

	m.Stop(t)
	if pid := m.PID(); pid != 0 {
		t.Fatalf("PID after Stop = %d, want 0", pid)
	}
	assertProcessGone(t, firstPID)
	m.Restart(t)
	if m.Port != port {
		t.Fatalf("port after Restart = %d, want %d", m.Port, port)
	}
	if got := m.QueryString(t, "SELECT v FROM kept"); got != "before stop" {
		t.Fatalf("after clean restart got %q", got)
	}
	if got := m.QueryString(t, "SELECT @@gtid_binlog_pos"); got != gtid {
		t.Errorf("gtid_binlog_pos after restart = %q, want %q", got, gtid)
	}

	m.Exec(t, "INSERT INTO kept VALUES ('before kill')")
	killedPID := m.PID()
	m.Kill(t)
	assertProcessGone(t, killedPID)
	m.Restart(t)
	if got := m.QueryString(t, "SELECT COUNT(*) FROM kept"); got != "2" {
		t.Fatalf("after kill+restart row count = %s, want 2", got)
	}
}

func TestCleanupStopsServersAndRemovesDirs(t *testing.T) {
	type leftover struct {
		name string
		pid  int
		dir  string
	}
	var left []leftover
	t.Run("servers", func(t *testing.T) {
		pg := MustStartPostgres(t)
		m := MustStartMariaDB(t)
		n := MustStartNATS(t)
		left = append(left,
			leftover{"postgres", pg.PID(), pg.DataDir},
			leftover{"mariadb", m.PID(), m.DataDir},
			leftover{"nats", 0, n.StoreDir},
		)
		if os.Geteuid() == 0 {
			assertOwner(t, pg.PID(), "postgres")
			assertOwner(t, m.PID(), "mysql")
		}
	})
	for _, l := range left {
		if l.pid != 0 {
			assertProcessGone(t, l.pid)
		}
		if _, err := os.Stat(l.dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s dir %s still exists after cleanup (stat: %v)", l.name, l.dir, err)
		}
	}
}

func TestFindBinary(t *testing.T) {
	dir := t.TempDir()
	exe := dir + "/tool"
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/notexec", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		bin     string
		dirs    []string
		want    string
		wantErr bool
	}{
		{"in listed dir", "tool", []string{"/nonexistent", dir}, exe, false},
		{"not executable, not in PATH", "notexec", []string{dir}, "", true},
		{"missing everywhere", "ficus-no-such-binary", []string{dir}, "", true},
		{"falls back to PATH", "sh", []string{dir}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := findBinary(tt.bin, tt.dirs...)
			if (err != nil) != tt.wantErr {
				t.Fatalf("findBinary(%q) error = %v, wantErr %v", tt.bin, err, tt.wantErr)
			}
			if tt.want != "" && got != tt.want {
				t.Fatalf("findBinary(%q) = %q, want %q", tt.bin, got, tt.want)
			}
			if !tt.wantErr && got == "" {
				t.Fatalf("findBinary(%q) returned an empty path", tt.bin)
			}
		})
	}
}

func TestTail(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short\n", 100, "short"},
		{"line one\nline two\nline three\n", 15, "line three"},
		{"a\nb\n", 2, ""},
	}
	for _, tt := range tests {
		if got := tail([]byte(tt.in), tt.n); got != tt.want {
			t.Errorf("tail(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func assertOwner(t *testing.T, pid int, wantUser string) {
	t.Helper()
	st, err := os.Stat("/proc/" + strconv.Itoa(pid))
	if err != nil {
		t.Fatalf("stat /proc/%d: %v", pid, err)
	}
	u, err := user.Lookup(wantUser)
	if err != nil {
		t.Fatalf("lookup %s: %v", wantUser, err)
	}
	uid := st.Sys().(*syscall.Stat_t).Uid
	if strconv.Itoa(int(uid)) != u.Uid {
		t.Errorf("pid %d runs as uid %d, want %s (%s)", pid, uid, wantUser, u.Uid)
	}
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		line    string
		want    procStat
		wantErr bool
	}{
		{"123 (postgres) S 100 123 123 0 -1", procStat{pid: 123, ppid: 100, pgrp: 123, state: "S"}, false},
		{"7 (odd) name (x)) Z 1 7 7 0", procStat{pid: 7, ppid: 1, pgrp: 7, state: "Z"}, false},
		{"garbage", procStat{}, true},
		{"12 (short) R", procStat{}, true},
	}
	for _, tt := range tests {
		got, err := parseStat([]byte(tt.line))
		if (err != nil) != tt.wantErr {
			t.Errorf("parseStat(%q) error = %v, wantErr %v", tt.line, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("parseStat(%q) = %+v, want %+v", tt.line, got, tt.want)
		}
	}
}

func TestDescendants(t *testing.T) {
	procs := []procStat{
		{pid: 1, ppid: 0}, {pid: 10, ppid: 1}, {pid: 11, ppid: 10},
		{pid: 12, ppid: 10}, {pid: 13, ppid: 12}, {pid: 20, ppid: 1},
	}
	got := descendants(procs, 10)
	want := []int{10, 11, 12, 13}
	if len(got) != len(want) {
		t.Fatalf("descendants = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("descendants = %v, want %v", got, want)
		}
	}
}

// The error API leaves nothing behind: Close stops the server and removes
// its directory, and a start that cannot finish reports why.
func TestStartCloseWithoutTB(t *testing.T) {
	n, err := StartNATS(context.Background(), NATSOptions{})
	if err != nil {
		t.Fatalf("StartNATS: %v", err)
	}
	if n.Server() == nil {
		t.Fatalf("Server() is nil after StartNATS")
	}
	if err := n.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n.Server() != nil {
		t.Errorf("Server() after Close is not nil")
	}
	if _, err := os.Stat(n.StoreDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("store dir %s still exists after Close (stat: %v)", n.StoreDir, err)
	}

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := StartPostgres(cancelled, PostgresOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("StartPostgres with a cancelled context: %v, want context.Canceled", err)
	}
	if _, err := StartNATS(cancelled, NATSOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("StartNATS with a cancelled context: %v, want context.Canceled", err)
	}
}
