package bus

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// testPKI is a throwaway CA with a server certificate (for a DNS name only, so
// ficus must verify it by that name, not by the 127.0.0.1 it dials) and a
// client certificate, written as PEM files.
type testPKI struct {
	dir                                              string
	ca, serverCert, serverKey, clientCert, clientKey string
	pool                                             *x509.CertPool
}

const testServerName = "nats.ficus.test"

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	p := testPKI{dir: t.TempDir(), pool: x509.NewCertPool()}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ficus test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	p.pool.AddCert(caCert)
	p.ca = p.write(t, "ca.pem", "CERTIFICATE", caDER)
	issue := func(name string, serial int64, dns []string, usage ...x509.ExtKeyUsage) (string, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name}, DNSNames: dns,
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: usage,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(key)
		return p.write(t, name+".pem", "CERTIFICATE", der), p.write(t, name+".key", "EC PRIVATE KEY", kder)
	}
	p.serverCert, p.serverKey = issue("server", 2, []string{testServerName},
		x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
	p.clientCert, p.clientKey = issue("client", 3, nil, x509.ExtKeyUsageClientAuth)
	return p
}

func (p testPKI) write(t *testing.T, name, typ string, der []byte) string {
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// With nats.embedded.tls the listener speaks TLS only, ficus's own connection
// uses it, and with a CA clients need a certificate signed by it.
func TestEmbeddedTLS(t *testing.T) {
	pki := newTestPKI(t)
	clientPair, err := tls.LoadX509KeyPair(pki.clientCert, pki.clientKey)
	if err != nil {
		t.Fatal(err)
	}
	trusting := &tls.Config{RootCAs: pki.pool, ServerName: testServerName, MinVersion: tls.VersionTLS12}
	withCert := trusting.Clone()
	withCert.Certificates = []tls.Certificate{clientPair}
	for _, tc := range []struct {
		name   string
		tls    ServerTLS
		accept *tls.Config // a client config the server takes
		refuse *tls.Config // one it turns away (nil: only plain text is tried)
	}{
		{"server certificate", ServerTLS{Cert: pki.serverCert, Key: pki.serverKey}, trusting, nil},
		{"client certificates required", ServerTLS{Cert: pki.serverCert, Key: pki.serverKey, CA: pki.ca}, withCert, trusting},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := openEmbedded(t, EmbeddedConfig{TLS: tc.tls})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := b.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "ficus_routes"}); err != nil {
				t.Fatalf("ficus's own connection: %v", err)
			}
			if !b.Conn.TLSRequired() {
				t.Error("ficus's own connection is not TLS")
			}
			url := b.ClientURLWithCredentials()
			if !strings.HasPrefix(url, "tls://") {
				t.Errorf("URL %s, want tls://", strings.SplitN(url, "@", 2)[1])
			}
			nc, err := nats.Connect(url, nats.Secure(tc.accept))
			if err != nil {
				t.Fatalf("TLS client: %v", err)
			}
			nc.Close()
			plain := "nats://" + strings.SplitN(url, "://", 2)[1]
			if nc, err := nats.Connect(plain, nats.NoReconnect()); err == nil {
				nc.Close()
				t.Error("a plain-text client got in")
			}
			if tc.refuse != nil {
				if nc, err := nats.Connect(url, nats.Secure(tc.refuse), nats.NoReconnect()); err == nil {
					nc.Close()
					t.Error("a client without a certificate got in")
				}
			}
		})
	}
}
