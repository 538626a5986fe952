package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSCluster is a cluster of nats-server processes (the Debian package's
// binary) with clustered JetStream, each node on its own free 127.0.0.1
// ports and in its own temp dir. Streams created with Replicas 3 survive
// the loss of one node.
type NATSCluster struct {
	// URLs are the client URLs of every node, comma-separated, as
	// nats.url accepts them.
	URLs  string
	nodes []*clusterNode
	dir   string // parent of every node's directory
}

type clusterNode struct {
	name       string
	url        string
	proc       *process
	clientPort int
}

// NATSClusterOptions configures StartNATSCluster.
type NATSClusterOptions struct {
	// Nodes is the number of nodes (3 for Replicas 3 streams).
	Nodes int
	// Logf receives a line when the cluster is ready; nil discards it.
	Logf func(format string, args ...any)
}

// StartNATSCluster starts opts.Nodes nats-server nodes routed to each other
// and waits until JetStream has elected its meta leader. The caller must
// Close the cluster, which kills every node and removes their dirs. On error
// nothing is left running.
func StartNATSCluster(ctx context.Context, opts NATSClusterOptions) (*NATSCluster, error) {
	began := time.Now()
	n := opts.Nodes
	if n < 1 {
		return nil, fmt.Errorf("nats cluster: %d nodes, want at least 1", n)
	}
	bin, err := findBinary("nats-server", "/usr/sbin", "/usr/bin")
	if err != nil {
		return nil, fmt.Errorf("nats cluster: %w (deploy/install-deps.sh test installs the Debian package nats-server)", err)
	}
	clientPorts, routePorts := make([]int, n), make([]int, n)
	for i := range n {
		if clientPorts[i], err = freePort(); err != nil {
			return nil, fmt.Errorf("nats cluster: %w", err)
		}
		if routePorts[i], err = freePort(); err != nil {
			return nil, fmt.Errorf("nats cluster: %w", err)
		}
	}
	routes := make([]string, n)
	for i, p := range routePorts {
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", p)
	}
	base, err := os.MkdirTemp("", "ficus-testenv-natscluster-")
	if err != nil {
		return nil, fmt.Errorf("nats cluster: create temp dir: %w", err)
	}
	c := &NATSCluster{dir: base}
	fail := func(err error) (*NATSCluster, error) {
		return nil, errors.Join(fmt.Errorf("nats cluster: %w", err), c.Close())
	}
	var urls []string
	for i := range n {
		name := NATSClusterNodeName(i)
		dir := filepath.Join(base, name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			return fail(err)
		}
		conf := fmt.Sprintf(`server_name: %q
listen: "127.0.0.1:%d"
jetstream { store_dir: %q }
cluster {
  name: "ficus-test"
  listen: "127.0.0.1:%d"
  routes: [%s]
}
`, name, clientPorts[i], filepath.Join(dir, "js"), routePorts[i], strings.Join(routes, ", "))
		path := filepath.Join(dir, "nats.conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			return fail(err)
		}
		node := &clusterNode{name: name, clientPort: clientPorts[i], url: fmt.Sprintf("nats://127.0.0.1:%d", clientPorts[i]),
			proc: &process{name: name, bin: bin, args: []string{"-c", path}, dir: dir,
				logPath: filepath.Join(dir, "nats.log"), stopSignal: syscall.SIGTERM}}
		c.nodes = append(c.nodes, node)
		urls = append(urls, node.url)
		if err := node.proc.start(true); err != nil {
			return fail(err)
		}
	}
	c.URLs = strings.Join(urls, ",")
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for _, node := range c.nodes {
		if err := node.proc.waitReady(ctx, func(ctx context.Context) error { return jetStreamUp(ctx, node.url) }); err != nil {
			return fail(err)
		}
	}
	logf(opts.Logf, "testenv: nats cluster of %d on %s ready in %s", n, c.URLs, time.Since(began).Round(time.Millisecond))
	return c, nil
}

// Close kills every node and removes their directories.
func (c *NATSCluster) Close() error {
	var errs []error
	for _, node := range c.nodes {
		if err := node.proc.kill(); err != nil {
			errs = append(errs, fmt.Errorf("kill %s: %w", node.name, err))
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", c.dir, err))
	}
	return errors.Join(errs...)
}

// jetStreamUp succeeds once the node answers JetStream API requests, which
// in a cluster needs an elected meta leader.
func jetStreamUp(ctx context.Context, url string) error {
	nc, err := nats.Connect(url, nats.Timeout(time.Second))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	_, err = js.AccountInfo(ctx)
	return err
}

// NATSClusterNodeName is node i's server_name (as JetStream names leaders).
func NATSClusterNodeName(i int) string { return fmt.Sprintf("ficus-test-%d", i+1) }

// URL returns node i's client URL.
func (c *NATSCluster) URL(i int) string { return c.nodes[i].url }

// Connect opens a client connection to every node (it fails over), closed
// at test end.
func (c *NATSCluster) Connect(t TB, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(c.URLs, append([]nats.Option{nats.MaxReconnects(-1)}, opts...)...)
	if err != nil {
		t.Fatalf("testenv: connect to nats cluster %s: %v", c.URLs, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// ConnectNode opens a client connection to node i only (no fail-over),
// closed at test end.
func (c *NATSCluster) ConnectNode(t TB, i int, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(c.nodes[i].url, append([]nats.Option{nats.DontRandomize(), nats.NoReconnect()}, opts...)...)
	if err != nil {
		t.Fatalf("testenv: connect to nats node %s: %v", c.nodes[i].name, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Kill stops node i with SIGKILL, as a crash would.
func (c *NATSCluster) Kill(t TB, i int) {
	t.Helper()
	if err := c.nodes[i].proc.kill(); err != nil {
		t.Errorf("testenv: kill %s: %v", c.nodes[i].name, err)
	}
	t.Logf("testenv: nats node %s killed", c.nodes[i].name)
}
