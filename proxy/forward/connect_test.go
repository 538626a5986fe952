package forward

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/proxy/route"
)

// rawConnect sends a CONNECT for target through the proxy at addr and
// returns the connection and the proxy's answer.
func rawConnect(t *testing.T, addr, target string) (net.Conn, *http.Response, []byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatalf("read CONNECT answer: %v", err)
	}
	var body []byte
	if resp.StatusCode != http.StatusOK {
		body, _ = io.ReadAll(resp.Body)
	}
	_ = c.SetDeadline(time.Time{})
	return c, resp, body
}

func TestConnectTunnelUntouched(t *testing.T) {
	srv := httptest.NewTLSServer(echoHandler("legacy"))
	t.Cleanup(srv.Close)
	p, reg := startProxy(t, Config{ServedByHeader: true, Allow: allowTo(t, srv.URL),
		Routes: []route.Spec{{Name: "r", Host: hostOf(t, srv.URL), New: mustURL(t, "http://127.0.0.1:1"), Weight: 100}}})
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs

	resp, body := get(t, client(p, roots), srv.URL+"/x", nil)
	if resp.StatusCode != http.StatusOK || decodeEcho(t, body).Server != "legacy" {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	if !resp.TLS.PeerCertificates[0].Equal(srv.Certificate()) {
		t.Error("client did not see the server's own certificate through the tunnel")
	}
	// Tunnelled bytes are not routed or annotated, whatever the routes say.
	if v := resp.Header.Get(servedByKey); v != "spoofed" {
		t.Errorf("%s = %q, want the backend's own value (tunnel untouched)", servedByKey, v)
	}
	if n := counter(t, reg, "ficus_proxy_forward_connects_total", map[string]string{"action": "tunnel"}); n != 1 {
		t.Errorf("connects_total{tunnel} = %v, want 1", n)
	}
}

func TestConnectErrors(t *testing.T) {
	live := httptest.NewTLSServer(echoHandler("live"))
	t.Cleanup(live.Close)
	t.Run("upstream down gives 502 JSON", func(t *testing.T) {
		dead := closedAddr(t)
		p, _ := startProxy(t, Config{Allow: allowTo(t, dead)})
		_, resp, body := rawConnect(t, p.Addr().String(), dead)
		if resp.StatusCode != http.StatusBadGateway || resp.Header.Get("Content-Type") != "application/json" ||
			!strings.Contains(string(body), "tunnel upstream unreachable") {
			t.Errorf("got %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	})
	t.Run("tunnel limit gives 503 JSON", func(t *testing.T) {
		p, reg := startProxy(t, Config{MaxTunnels: 1, Allow: allowTo(t, live.URL)})
		_, first, _ := rawConnect(t, p.Addr().String(), hostOf(t, live.URL))
		if first.StatusCode != http.StatusOK {
			t.Fatalf("first CONNECT: %d", first.StatusCode)
		}
		_, resp, body := rawConnect(t, p.Addr().String(), hostOf(t, live.URL))
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "too many open tunnels") {
			t.Errorf("second CONNECT: %d %s", resp.StatusCode, body)
		}
		if n := counter(t, reg, "ficus_proxy_forward_saturated_total", map[string]string{"what": "tunnel"}); n != 1 {
			t.Errorf("saturated_total{tunnel} = %v, want 1", n)
		}
	})
}

func TestMITM(t *testing.T) {
	mitmCA := newTestCA(t, "ficus test MITM CA", true)
	upCA := newTestCA(t, "test upstream CA", true)
	legacy := newTLSBackend(t, "legacy", upCA)
	other := newTLSBackend(t, "other", upCA)
	newSrv := newBackend(t, "new")
	lh := hostOf(t, legacy.URL)
	cfg := Config{
		ServedByHeader: true,
		Allow:          allowTo(t, legacy.URL, other.URL),
		UpstreamCAs:    upCA.pool(),
		MITM:           &MITMConfig{CACert: mitmCA.certPath, CAKey: mitmCA.keyPath, Hosts: []string{lh}},
		Routes:         []route.Spec{{Name: "api", Host: lh, PathPrefix: "/api", New: mustURL(t, newSrv.URL), Weight: 100}},
	}
	p, reg := startProxy(t, cfg)
	trustMITMOnly := client(p, mitmCA.pool())

	tests := []struct {
		path, wantServer, wantSide, wantRoute string
	}{
		{"/api/orders", "new", "new", "api"},
		{"/home", "legacy", "legacy", route.DefaultName}, // re-encrypted to the verified upstream
		{"/api/again", "new", "new", "api"},
	}
	for _, tc := range tests {
		resp, body := get(t, trustMITMOnly, legacy.URL+tc.path, http.Header{"Accept-Encoding": {"gzip"}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d body %s", tc.path, resp.StatusCode, body)
		}
		e := decodeEcho(t, body)
		if e.Server != tc.wantServer || e.Path != tc.path {
			t.Errorf("%s: served by %q path %q, want %q", tc.path, e.Server, e.Path, tc.wantServer)
		}
		if e.Header.Get("Accept-Encoding") != "gzip" {
			t.Errorf("%s: upstream saw Accept-Encoding %q", tc.path, e.Header.Get("Accept-Encoding"))
		}
		if s, r := resp.Header.Get(servedByKey), resp.Header.Get(routeKey); s != tc.wantSide || r != tc.wantRoute {
			t.Errorf("%s: served-by %q route %q, want %q %q", tc.path, s, r, tc.wantSide, tc.wantRoute)
		}
		leaf := resp.TLS.PeerCertificates[0]
		if leaf.Issuer.CommonName != mitmCA.cert.Subject.CommonName || leaf.IPAddresses[0].String() != "127.0.0.1" {
			t.Errorf("%s: leaf issued by %q for %v", tc.path, leaf.Issuer.CommonName, leaf.IPAddresses)
		}
	}
	// Three separate connections (keep-alives are off), one minted leaf.
	if n := counter(t, reg, "ficus_proxy_forward_mitm_certs_generated_total", nil); n != 1 {
		t.Errorf("certs generated = %v, want 1 (cached)", n)
	}
	if n := counter(t, reg, "ficus_proxy_forward_connects_total", map[string]string{"action": "mitm"}); n != 3 {
		t.Errorf("connects_total{mitm} = %v, want 3", n)
	}

	t.Run("unlisted host is tunnelled", func(t *testing.T) {
		roots := mitmCA.pool()
		roots.AddCert(upCA.cert)
		resp, body := get(t, client(p, roots), other.URL+"/api/x", nil)
		if resp.StatusCode != http.StatusOK || decodeEcho(t, body).Server != "other" {
			t.Fatalf("status %d body %s", resp.StatusCode, body)
		}
		if !resp.TLS.PeerCertificates[0].Equal(other.Certificate()) {
			t.Error("unlisted host: client did not see the upstream's own certificate")
		}
	})

	t.Run("upstream TLS is verified", func(t *testing.T) {
		strict := cfg
		strict.UpstreamCAs = nil // the upstream CA is not in the system roots
		p2, reg2 := startProxy(t, strict)
		resp, body := get(t, client(p2, mitmCA.pool()), legacy.URL+"/home", nil)
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "upstream unreachable") {
			t.Errorf("untrusted upstream: %d %s, want 502", resp.StatusCode, body)
		}
		if n := counter(t, reg2, "ficus_proxy_forward_upstream_errors_total", map[string]string{"side": "legacy"}); n != 1 {
			t.Errorf("upstream_errors_total{legacy} = %v, want 1", n)
		}
	})
}

func TestMITMConfigErrors(t *testing.T) {
	ca := newTestCA(t, "ca", true)
	otherCA := newTestCA(t, "other", true)
	notCA := newTestCA(t, "not a ca", false)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	tests := []struct {
		name string
		mitm MITMConfig
		want string
	}{
		{"bad ca_cert path", MITMConfig{CACert: missing, CAKey: ca.keyPath, Hosts: []string{"a"}}, "proxy.mitm.ca_cert"},
		{"bad ca_key path", MITMConfig{CACert: ca.certPath, CAKey: missing, Hosts: []string{"a"}}, "proxy.mitm.ca_key"},
		{"key of another CA", MITMConfig{CACert: ca.certPath, CAKey: otherCA.keyPath, Hosts: []string{"a"}}, "does not match"},
		{"not a CA", MITMConfig{CACert: notCA.certPath, CAKey: notCA.keyPath, Hosts: []string{"a"}}, "not a CA"},
		{"cert is not PEM", MITMConfig{CACert: ca.keyPath, CAKey: ca.keyPath, Hosts: []string{"a"}}, "proxy.mitm.ca_cert"},
		{"no hosts", MITMConfig{CACert: ca.certPath, CAKey: ca.keyPath}, "proxy.mitm.hosts"},
		{"bad host", MITMConfig{CACert: ca.certPath, CAKey: ca.keyPath, Hosts: []string{"a.*.com"}}, "proxy.mitm.hosts[0]"},
		{"bare wildcard", MITMConfig{CACert: ca.certPath, CAKey: ca.keyPath, Hosts: []string{"*."}}, "proxy.mitm.hosts[0]"},
		{"missing key", MITMConfig{CACert: ca.certPath, Hosts: []string{"a"}}, "ca_key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.mitm
			_, err := New(Config{MITM: &m, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New error %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("error leaks key material: %v", err)
			}
		})
	}
}

func TestHostPatterns(t *testing.T) {
	m := &mitm{}
	for _, h := range []string{"api.example.com", "*.corp.test", "pay.example.com:8443", "127.0.0.1"} {
		p, err := parseHostPattern(h)
		if err != nil {
			t.Fatal(err)
		}
		m.hosts = append(m.hosts, p)
	}
	tests := []struct {
		target string
		want   bool
	}{
		{"api.example.com:443", true},
		{"API.Example.com:443", true},
		{"api.example.com", true},
		{"www.example.com:443", false},
		{"x.corp.test:443", true},
		{"a.b.corp.test:443", true},
		{"corp.test:443", false},
		{"evilcorp.test:443", false},
		{"pay.example.com:8443", true},
		{"pay.example.com:443", false},
		{"127.0.0.1:9000", true},
		{"127.0.0.2:9000", false},
	}
	for _, tc := range tests {
		if got := m.intercepts(tc.target); got != tc.want {
			t.Errorf("intercepts(%q) = %v, want %v", tc.target, got, tc.want)
		}
	}
}

func TestRunClosesTunnelsOnShutdown(t *testing.T) {
	srv := httptest.NewTLSServer(echoHandler("legacy"))
	t.Cleanup(srv.Close)
	p, err := New(Config{Listen: "127.0.0.1:0", ShutdownTimeout: 2 * time.Second, Allow: allowTo(t, srv.URL),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	<-p.Ready()
	conn, resp, _ := rawConnect(t, p.Addr().String(), hostOf(t, srv.URL))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	tc := tls.Client(conn, &tls.Config{ServerName: "127.0.0.1", RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake through tunnel: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("tunnel still open after shutdown: read err %v", err)
	}
}
