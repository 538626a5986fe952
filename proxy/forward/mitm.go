package forward

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"strings"
	"time"

	"github.com/elazarl/goproxy"
)

// MITMConfig enables TLS interception of CONNECT tunnels to Hosts. Leaf
// certificates are minted from the operator's CA; goproxy's bundled CA is
// never used, because its private key is public.
type MITMConfig struct {
	// CACert and CAKey are paths of the PEM CA certificate and its key.
	CACert, CAKey string
	// Hosts are exact host names, "*.domain" (any name below domain), each
	// optionally with ":port"; without a port any port matches.
	Hosts []string
	// CertCacheSize bounds the leaf-certificate LRU [1024].
	CertCacheSize int
}

// leafLifetime is short because leaves live only in memory and are
// re-minted on demand; it is capped by the CA's own expiry.
const leafLifetime = 7 * 24 * time.Hour

type hostPattern struct {
	name     string // lower case; for wildcards the suffix including the dot
	wildcard bool
	port     string // "" = any
}

type mitm struct {
	ca     tls.Certificate
	caLeaf *x509.Certificate
	hosts  []hostPattern
	cache  *certCache
	onMint func()
	now    func() time.Time
}

func newMITM(c MITMConfig, onMint func()) (*mitm, error) {
	if c.CACert == "" || c.CAKey == "" {
		return nil, errors.New("proxy.mitm: ca_cert and ca_key are both required")
	}
	if len(c.Hosts) == 0 {
		return nil, errors.New("proxy.mitm.hosts: at least one host is required")
	}
	certPEM, err := os.ReadFile(c.CACert)
	if err != nil {
		return nil, fmt.Errorf("proxy.mitm.ca_cert %q: %w", c.CACert, err)
	}
	keyPEM, err := os.ReadFile(c.CAKey)
	if err != nil {
		return nil, fmt.Errorf("proxy.mitm.ca_key %q: %w", c.CAKey, err)
	}
	// X509KeyPair also proves the key belongs to the certificate; its errors
	// never quote key material.
	ca, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("proxy.mitm.ca_cert %q / ca_key %q: %w", c.CACert, c.CAKey, err)
	}
	leaf, err := x509.ParseCertificate(ca.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("proxy.mitm.ca_cert %q: %w", c.CACert, err)
	}
	if err := checkCA(leaf, time.Now()); err != nil {
		return nil, fmt.Errorf("proxy.mitm.ca_cert %q: %w", c.CACert, err)
	}
	m := &mitm{ca: ca, caLeaf: leaf, onMint: onMint, now: time.Now}
	for i, h := range c.Hosts {
		p, err := parseHostPattern(h)
		if err != nil {
			return nil, fmt.Errorf("proxy.mitm.hosts[%d]: %w", i, err)
		}
		m.hosts = append(m.hosts, p)
	}
	size := c.CertCacheSize
	if size <= 0 {
		size = 1024
	}
	m.cache = newCertCache(size)
	return m, nil
}

func checkCA(c *x509.Certificate, now time.Time) error {
	if !c.BasicConstraintsValid || !c.IsCA {
		return errors.New("certificate is not a CA (basic constraints CA:TRUE missing)")
	}
	if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0 {
		return errors.New("CA certificate lacks the certSign key usage")
	}
	if now.Before(c.NotBefore) || now.After(c.NotAfter) {
		return fmt.Errorf("CA certificate is not valid now (valid %s to %s)",
			c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339))
	}
	return nil
}

func parseHostPattern(s string) (hostPattern, error) {
	var p hostPattern
	name := strings.ToLower(strings.TrimSpace(s))
	if h, port, err := net.SplitHostPort(name); err == nil {
		if port == "" {
			return p, fmt.Errorf("host %q: empty port", s)
		}
		name, p.port = h, port
	}
	if rest, ok := strings.CutPrefix(name, "*."); ok {
		p.wildcard = true
		name = "." + rest
		if rest == "" {
			return p, fmt.Errorf("host %q: wildcard needs a domain", s)
		}
	}
	if name == "" || strings.ContainsAny(name, "*/ @") {
		return p, fmt.Errorf("host %q: want a host name, *.domain, optionally with :port", s)
	}
	p.name = name
	return p, nil
}

// intercepts reports whether a CONNECT target (host:port) is to be decrypted.
func (m *mitm) intercepts(target string) bool {
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		host, port = target, ""
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, p := range m.hosts {
		if p.port != "" && p.port != port {
			continue
		}
		if p.wildcard {
			if strings.HasSuffix(host, p.name) && len(host) > len(p.name) {
				return true
			}
		} else if host == p.name {
			return true
		}
	}
	return false
}

// tlsConfig is goproxy's ConnectAction.TLSConfig: the server side of the
// client's TLS session, with a leaf for the CONNECT host.
func (m *mitm) tlsConfig(target string, _ *goproxy.ProxyCtx) (*tls.Config, error) {
	host := target
	if h, _, err := net.SplitHostPort(target); err == nil {
		host = h
	}
	host = strings.ToLower(host)
	cert, err := m.cache.Fetch(host, func() (*tls.Certificate, error) { return m.mint(host) })
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}, nil
}

func (m *mitm) mint(host string) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate serial: %w", err)
	}
	now := m.now()
	notAfter := now.Add(leafLifetime)
	if notAfter.After(m.caLeaf.NotAfter) {
		notAfter = m.caLeaf.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: host},
		NotBefore:             now.Add(-time.Hour), // tolerate client clock skew
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, m.caLeaf, &key.PublicKey, m.ca.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("sign leaf: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse leaf: %w", err)
	}
	if m.onMint != nil {
		m.onMint()
	}
	return &tls.Certificate{Certificate: [][]byte{der, m.caLeaf.Raw}, PrivateKey: key, Leaf: leaf}, nil
}
