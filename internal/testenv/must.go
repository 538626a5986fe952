package testenv

import "context"

// The Must* wrappers are the Start* functions for tests: they fail the test
// on error, log through it, and close the server at test end (t.Cleanup).

// MustStartPostgres is StartPostgres for a test. At test end the server is
// stopped, its log tail shown if the test failed, and its directory removed.
func MustStartPostgres(t TB) *Postgres {
	t.Helper()
	p, err := StartPostgres(context.Background(), PostgresOptions{Logf: t.Logf})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		// Stopped before the tail is read, so that the tail ends with the
		// shutdown; Close then only removes the directory.
		if err := p.proc.stop(); err != nil {
			t.Errorf("testenv: stop postgres: %v", err)
		}
		if t.Failed() {
			t.Logf("testenv: postgres log tail (%s):\n%s", p.proc.logPath, p.LogTail())
		}
		if err := p.Close(); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})
	return p
}

// MustStartMariaDB is StartMariaDB for a test. At test end the server is
// stopped, its log tail shown if the test failed, and its directory removed.
func MustStartMariaDB(t TB) *MariaDB {
	t.Helper()
	m, err := StartMariaDB(context.Background(), MariaDBOptions{Logf: t.Logf})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		if err := m.proc.stop(); err != nil {
			t.Errorf("testenv: stop mariadb: %v", err)
		}
		if t.Failed() {
			t.Logf("testenv: mariadb log tail (%s):\n%s", m.proc.logPath, m.LogTail())
		}
		if err := m.Close(); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})
	return m
}

// MustStartNATS is StartNATS for a test; the server is shut down and its
// store dir removed at test end.
func MustStartNATS(t TB) *NATS {
	t.Helper()
	return MustStartNATSWith(t, NATSOptions{})
}

// MustStartNATSWith is MustStartNATS with options (its Logf is the test's).
func MustStartNATSWith(t TB, opts NATSOptions) *NATS {
	t.Helper()
	opts.Logf = t.Logf
	n, err := StartNATS(context.Background(), opts)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})
	return n
}

// MustStartNATSCluster is StartNATSCluster of n nodes for a test; every node
// is killed and the directories removed at test end.
func MustStartNATSCluster(t TB, n int) *NATSCluster {
	t.Helper()
	c, err := StartNATSCluster(context.Background(), NATSClusterOptions{Nodes: n, Logf: t.Logf})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})
	return c
}
