package deploy_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io/fs"
	"math/big"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/ficus-migrate/ficus/internal/config"
)

// No NATS listener in deploy/ lets a client in without authenticating: whoever
// reaches NATS could otherwise rewrite route weights in the bucket ficus_routes
// (and every ficus would follow) or read FICUS_SHADOW, which holds copies of
// requests. These checks run on every nats.conf (TestNATSConfigsAuthenticated)
// and, with each server's real environment, inside the k8s and compose checks.

// natsAuth is what a NATS server's client port accepts, from its parsed config.
type natsAuth struct {
	users   map[string]string // user -> password
	tls     bool              // clients must speak TLS
	monitor int               // the monitoring port, which has no authentication (0: none)
}

func authOf(o *server.Options) natsAuth {
	a := natsAuth{users: map[string]string{}, tls: o.TLSConfig != nil, monitor: o.HTTPPort}
	for _, u := range o.Users {
		a.users[u.Username] = u.Password
	}
	return a
}

// checkNATSListeners reports each listener of a parsed NATS config that accepts
// a connection without authentication. The monitoring port cannot require any
// in nats-server: the k8s and compose checks keep it out of reach instead.
func checkNATSListeners(where string, o *server.Options) problems {
	var p problems
	if len(o.Users) == 0 && len(o.Nkeys) == 0 && o.Authorization == "" && len(o.TrustedOperators) == 0 {
		p.addf("%s: client port %d accepts clients without credentials: add authorization { users } or accounts", where, o.Port)
	}
	if o.NoAuthUser != "" {
		p.addf("%s: no_auth_user %q lets clients in without credentials", where, o.NoAuthUser)
	}
	for _, u := range o.Users {
		if u.Password == "" {
			p.addf("%s: user %q has no password", where, u.Username)
		}
	}
	if o.TLSConfig == nil {
		p.addf("%s: client port %d does not require TLS: passwords and records would cross the network in clear", where, o.Port)
	}
	if o.Cluster.Port != 0 && o.Cluster.Username == "" &&
		(o.Cluster.TLSConfig == nil || o.Cluster.TLSConfig.ClientAuth != tls.RequireAndVerifyClientCert) {
		p.addf("%s: cluster port %d accepts routes without authentication: set cluster.tls with verify: true (or cluster.authorization)", where, o.Cluster.Port)
	}
	for _, l := range []struct {
		name string
		port int
	}{{"leafnodes", o.LeafNode.Port}, {"gateway", o.Gateway.Port}, {"websocket", o.Websocket.Port}, {"mqtt", o.MQTT.Port}} {
		if l.port != 0 {
			p.addf("%s: %s port %d is not checked for authentication: extend checkNATSListeners before opening it", where, l.name, l.port)
		}
	}
	return p
}

// confFile finds the PEM files a nats.conf names.
var confFile = regexp.MustCompile(`(?m)^(\s*(cert_file|key_file|ca_file)\s*[:=]\s*)"?([^"\s#]+)"?`)

// natsConfFiles returns the paths of the certificates and keys a nats.conf reads.
func natsConfFiles(conf string) []string {
	var out []string
	for _, m := range confFile.FindAllStringSubmatch(conf, -1) {
		out = append(out, m[3])
	}
	return out
}

// withTestPKI points the certificate files of conf at throwaway ones, so that
// the real option parser (which loads them) can read a config whose files only
// exist in the container. The checks verify separately that they are mounted.
func withTestPKI(conf string, pki map[string]string) string {
	return confFile.ReplaceAllStringFunc(conf, func(m string) string {
		g := confFile.FindStringSubmatch(m)
		return g[1] + strconv.Quote(pki[g[2]])
	})
}

// testPKI writes a CA and a certificate signed by it (server and client
// authentication) and returns them by the nats.conf key that names them.
func testPKI(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "deploy test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "nats"}, DNSNames: []string{"*.nats"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	parent, _ := x509.ParseCertificate(caDER)
	der, err := x509.CreateCertificate(rand.Reader, leaf, parent, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return map[string]string{
		"ca_file":   write("ca.pem", "CERTIFICATE", caDER),
		"cert_file": write("cert.pem", "CERTIFICATE", der),
		"key_file":  write("key.pem", "EC PRIVATE KEY", kder),
	}
}

// checkMounted reports the files of conf that no mount of the server provides.
func checkMounted(where, conf string, mounts []string) problems {
	var p problems
	for _, f := range natsConfFiles(conf) {
		if !onMount(f, mounts) {
			p.addf("%s: %s (nats.conf) is not on any mounted volume", where, f)
		}
	}
	return p
}

// onMount reports whether file is one of mounts or inside one.
func onMount(file string, mounts []string) bool {
	f := path.Clean(file)
	for _, m := range mounts {
		if m = path.Clean(m); f == m || strings.HasPrefix(f, m+"/") {
			return true
		}
	}
	return false
}

// checkFicusNATSAuth checks that ficus's nats.url carries credentials the NATS
// servers accept, and that ficus trusts their TLS certificate.
func checkFicusNATSAuth(where string, cfg *config.Config, auth natsAuth, mounted func(string) bool) problems {
	var p problems
	for _, d := range cfg.NATS.URLs {
		u, err := url.Parse(d.Reveal())
		if err != nil {
			continue // reported by the URL checks
		}
		pw, _ := u.User.Password()
		if want, ok := auth.users[u.User.Username()]; u.User == nil || !ok || want != pw {
			p.addf("%s: nats.url %s: its user and password are not a user of the NATS servers", where, d)
		}
	}
	if auth.tls && cfg.NATS.TLS.CA == "" {
		p.addf("%s: NATS requires TLS but nats.tls.ca is not set: ficus cannot verify the servers' certificate", where)
	}
	if ca := cfg.NATS.TLS.CA; ca != "" && !mounted(ca) {
		p.addf("%s: nats.tls.ca %s is not mounted", where, ca)
	}
	return p
}

// TestNATSConfigsAuthenticated parses every nats.conf under deploy/ (with a
// placeholder for each $VARIABLE) and requires authentication on every listener,
// so that a config added later cannot slip past the k8s and compose checks.
func TestNATSConfigsAuthenticated(t *testing.T) {
	parse := realNATSParser(t)
	n := 0
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".conf") {
			return err
		}
		conf := string(readFile(t, filepath.ToSlash(p)))
		if !strings.Contains(conf, "jetstream") && !strings.Contains(conf, "listen") {
			return nil
		}
		n++
		env := map[string]string{}
		for _, m := range regexp.MustCompile(`\$([A-Za-z_][A-Za-z0-9_]*)`).FindAllStringSubmatch(conf, -1) {
			env[m[1]] = "placeholder"
		}
		opts, err := parse(conf, env)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			return nil
		}
		expectProblems(t, checkNATSListeners(p, opts), "")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 2 {
		t.Fatalf("found %d NATS configs under deploy/, want the k8s and the compose one", n)
	}
}

// TestNATSListenersCheckCatches breaks the k8s nats.conf one way at a time.
func TestNATSListenersCheckCatches(t *testing.T) {
	base := string(readFile(t, "k8s/base/nats.conf"))
	env := map[string]string{"POD_NAME": "nats-0", "FICUS_NATS_PASSWORD": "pw"}
	parse := realNATSParser(t)
	for _, tc := range []struct{ name, old, new, want string }{
		{"unbroken", "", "", ""},
		{"no users", "authorization {", "no_authorization {", "accepts clients without credentials"},
		{"no auth user", "lame_duck_duration: 30s", "lame_duck_duration: 30s\nno_auth_user: ficus", "no_auth_user"},
		{"no client TLS", "tls {\n  cert_file", "no_tls {\n  cert_file", "does not require TLS"},
		{"routes without TLS", "  tls {\n    cert_file: /etc/nats-tls/tls.crt\n    key_file: /etc/nats-tls/tls.key\n    ca_file: /etc/nats-tls/ca.crt\n    verify: true\n    timeout: 5\n  }\n",
			"", "accepts routes without authentication"},
		{"websocket", "lame_duck_duration: 30s", "lame_duck_duration: 30s\nwebsocket { port: 8080, no_tls: true }", "websocket port 8080 is not checked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := strings.Replace(base, tc.old, tc.new, 1)
			if tc.old != "" && conf == base {
				t.Fatalf("nats.conf has no %q", tc.old)
			}
			// An unknown block is an error in nats-server; drop the renamed ones.
			conf = regexp.MustCompile(`(?s)no_(authorization|tls) \{.*?\n\}\n`).ReplaceAllString(conf, "")
			opts, err := parse(conf, env)
			if err != nil {
				t.Fatal(err)
			}
			expectProblems(t, checkNATSListeners("nats.conf", opts), tc.want)
		})
	}
}
