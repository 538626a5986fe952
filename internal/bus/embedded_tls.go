package bus

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/nats-io/nats-server/v2/server"
)

// ServerTLS is TLS on the embedded server's client port (PEM file paths).
type ServerTLS struct {
	// Cert and Key are the server's certificate (chain) and key. Cert empty
	// means no TLS.
	Cert, Key string
	// CA, when set, makes the server require client certificates signed by
	// it. ficus's own connections then present Cert, which must therefore
	// also allow client authentication (extended key usage clientAuth, or none).
	CA string
}

// serverTLS turns TLS on in opts when t has a certificate.
func serverTLS(opts *server.Options, t ServerTLS) error {
	if t.Cert == "" {
		return nil
	}
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{
		CertFile: t.Cert, KeyFile: t.Key, CaFile: t.CA, Verify: t.CA != "", MinVersion: tls.VersionTLS12,
	})
	if err != nil {
		return fmt.Errorf("nats.embedded.tls: %w", err)
	}
	opts.TLSConfig, opts.TLS, opts.TLSVerify = tc, true, t.CA != ""
	opts.TLSTimeout = 2 // seconds, nats-server's default
	return nil
}

// selfTLS is the client side of ficus's connections to its own TLS listener. They
// trust only what the server is configured with (the CA, and the certificate
// itself, so a self-signed one works), and verify the certificate against a name
// it carries rather than the address dialled: ficus dials the listen address
// (often 127.0.0.1), which a certificate made for outside clients need not name.
func selfTLS(t ServerTLS) (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(t.Cert, t.Key)
	if err != nil {
		return nil, fmt.Errorf("nats.embedded.tls.cert/key: %w", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("nats.embedded.tls.cert: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("nats.embedded.tls.ca: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("nats.embedded.tls.ca: %s holds no PEM certificate", t.CA)
		}
	}
	name, err := certName(leaf)
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: name}
	if t.CA != "" {
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

// certName is a name the certificate is valid for: its first DNS name or IP address.
func certName(c *x509.Certificate) (string, error) {
	switch {
	case len(c.DNSNames) > 0:
		return c.DNSNames[0], nil
	case len(c.IPAddresses) > 0:
		return c.IPAddresses[0].String(), nil
	}
	return "", errors.New("nats.embedded.tls.cert: the certificate names no host (no DNS or IP subject alternative name)")
}
