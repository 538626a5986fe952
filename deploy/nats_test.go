package deploy_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// natsParser reads a NATS server config with the real nats-server option
// parser, with env as the server's environment ($VAR references).
type natsParser func(conf string, env map[string]string) (*server.Options, error)

// realNATSParser parses through a temporary file, as nats-server --config does,
// with throwaway certificates in place of the ones the config names.
func realNATSParser(t *testing.T) natsParser {
	var pki map[string]string
	return func(conf string, env map[string]string) (*server.Options, error) {
		for k, v := range env {
			t.Setenv(k, v)
		}
		if pki == nil {
			pki = testPKI(t)
		}
		conf = withTestPKI(conf, pki)
		f := filepath.Join(t.TempDir(), "nats.conf")
		if err := os.WriteFile(f, []byte(conf), 0o600); err != nil {
			return nil, err
		}
		return server.ProcessConfigFile(f)
	}
}

// natsMember is one server of a cluster as a manifest declares it.
type natsMember struct {
	name    string            // pod or compose service name
	host    string            // how the other members and clients reach it
	env     map[string]string // its environment
	client  int               // declared client port (0: not declared)
	cluster int               // declared cluster port (0: not declared)
	dataDir string            // mount point of its persistent volume
	mounts  []string          // mount points of its volumes that exist
	conf    string            // its nats.conf
}

// checkNATSCluster parses the config every member runs and checks that they
// form one JetStream cluster: routes name every member at its cluster port,
// server names are unique, the store is on the persistent volume, every
// listener requires authentication and the certificates are mounted.
func checkNATSCluster(where string, members []natsMember, parse natsParser) (p problems, clientPort int, auth natsAuth) {
	want := map[string]bool{}
	names := map[string]string{}
	for _, m := range members {
		opts, err := parse(m.conf, m.env)
		if err != nil {
			p.addf("%s: %s: nats-server cannot read its config: %v", where, m.name, err)
			continue
		}
		if len(want) == 0 {
			for _, o := range members {
				want[net.JoinHostPort(o.host, strconv.Itoa(opts.Cluster.Port))] = true
			}
		}
		clientPort, auth = opts.Port, authOf(opts)
		p = append(p, checkNATSListeners(where+": "+m.name, opts)...)
		p = append(p, checkMounted(where+": "+m.name, m.conf, m.mounts)...)
		if m.client != 0 && opts.Port != m.client {
			p.addf("%s: %s: nats listens on client port %d, the manifest declares %d", where, m.name, opts.Port, m.client)
		}
		if m.cluster != 0 && opts.Cluster.Port != m.cluster {
			p.addf("%s: %s: nats cluster port is %d, the manifest declares %d", where, m.name, opts.Cluster.Port, m.cluster)
		}
		if opts.Cluster.Name == "" {
			p.addf("%s: %s: cluster.name is not set", where, m.name)
		}
		if !opts.JetStream {
			p.addf("%s: %s: JetStream is not enabled", where, m.name)
		}
		if m.dataDir == "" || !strings.HasPrefix(filepath.Clean(opts.StoreDir)+"/", filepath.Clean(m.dataDir)+"/") {
			p.addf("%s: %s: jetstream store_dir %q is not on the persistent volume (%q)", where, m.name, opts.StoreDir, m.dataDir)
		}
		if other, dup := names[opts.ServerName]; dup || opts.ServerName == "" {
			p.addf("%s: %s: server_name %q is empty or also used by %s", where, m.name, opts.ServerName, other)
		}
		names[opts.ServerName] = m.name
		var got []string
		for _, u := range opts.Routes {
			got = append(got, u.Host)
		}
		if !sameSet(got, want) {
			p.addf("%s: %s: cluster routes %v, want every member %v", where, m.name, got, keys(want))
		}
	}
	if len(members) < 3 {
		p.addf("%s: a JetStream cluster needs 3 servers for a quorum that survives one loss, found %d", where, len(members))
	}
	return p, clientPort, auth
}

func sameSet(got []string, want map[string]bool) bool {
	seen := map[string]bool{}
	for _, g := range got {
		if !want[g] {
			return false
		}
		seen[g] = true
	}
	return len(seen) == len(want)
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// natsURLHosts returns host and port of each ficus nats.url entry.
func natsURLHosts(urls []string) ([][2]string, error) {
	var out [][2]string
	for _, u := range urls {
		rest := u
		if i := strings.Index(rest, "://"); i >= 0 {
			rest = rest[i+3:]
		}
		if i := strings.LastIndex(rest, "@"); i >= 0 {
			rest = rest[i+1:]
		}
		h, p, err := net.SplitHostPort(strings.TrimSuffix(rest, "/"))
		if err != nil {
			return nil, fmt.Errorf("nats.url %q: %w", u, err)
		}
		out = append(out, [2]string{h, p})
	}
	return out, nil
}
