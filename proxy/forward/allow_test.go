package forward

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// dialLog records the addresses the proxy dials upstream, and vetoes any
// that is not loopback: should a check regress, the test fails without
// sending a packet off this host.
type dialLog struct {
	mu    sync.Mutex
	addrs []string
}

func (d *dialLog) add(a string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.addrs = append(d.addrs, a)
	if ap, err := netip.ParseAddrPort(a); err != nil || !ap.Addr().IsLoopback() {
		return errors.New("test: refusing to dial " + a)
	}
	return nil
}

func (d *dialLog) take() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	a := d.addrs
	d.addrs = nil
	return a
}

// testLookup resolves rebind.test to a public-looking and a loopback
// address, as a rebinding name would; everything else as the system does.
func testLookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if strings.EqualFold(host, "rebind.test") {
		return []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("127.0.0.1")}, nil
	}
	return defaultLookup(ctx, host)
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustPort(t *testing.T, addr string) int {
	t.Helper()
	n, err := strconv.Atoi(portOf(t, addr))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDestinations sends plain requests and CONNECTs through a running
// proxy whose rules open one loopback backend by IP and by "localhost",
// and any host on a few ports by glob. Every refusal is a 403 with a JSON
// reason, counted, and made before any connection is attempted.
func TestDestinations(t *testing.T) {
	allowed := newBackend(t, "allowed")
	other := newBackend(t, "other") // loopback, opened only by a glob
	admin := newBackend(t, "admin") // stands in for ficus's admin listener
	listen := closedAddr(t)         // the proxy's own address, known up front
	ap, op := mustPort(t, hostOf(t, allowed.URL)), mustPort(t, hostOf(t, other.URL))
	dials := &dialLog{}
	p, reg := startProxy(t, Config{
		Listen: listen,
		Self:   []string{hostOf(t, admin.URL)},
		Allow: []AllowRule{
			// Named exactly, so loopback is open here, but never for
			// ficus's own listeners.
			{Host: "127.0.0.1", Ports: []int{ap, mustPort(t, hostOf(t, admin.URL)), mustPort(t, listen)}},
			{Host: "localhost", Ports: []int{ap}},
			{Host: "*", Ports: []int{80, 443, op}},
		},
		lookupIP: testLookup,
		onDial:   dials.add,
	})
	proxyAddr := p.Addr().String()
	ops := "127.0.0.1:" + strconv.Itoa(op)

	tests := []struct {
		name    string
		connect string // a CONNECT target; else get is a URL to GET
		get     string
		reason  string // "" = must pass
		server  string // for passes: the backend that must answer
	}{
		{name: "GET to the loopback backend named by IP", get: allowed.URL + "/x", server: "allowed"},
		{name: "GET to the loopback backend named localhost", get: "http://localhost:" + strconv.Itoa(ap) + "/x", server: "allowed"},
		{name: "CONNECT to loopback opened by a glob only", connect: ops, reason: reasonLoopback},
		{name: "GET to loopback opened by a glob only", get: other.URL + "/", reason: reasonLoopback},
		{name: "GET to localhost opened by a glob only", get: "http://localhost:" + strconv.Itoa(op) + "/", reason: reasonLoopback},
		{name: "CONNECT to ::1", connect: "[::1]:" + strconv.Itoa(op), reason: reasonLoopback},
		{name: "CONNECT to IPv4-mapped loopback", connect: "[::ffff:127.0.0.1]:" + strconv.Itoa(op), reason: reasonLoopback},
		{name: "CONNECT to the admin port named exactly", connect: hostOf(t, admin.URL), reason: reasonSelf},
		{name: "GET to the admin port named exactly", get: admin.URL + "/metrics", reason: reasonSelf},
		{name: "CONNECT to the proxy itself", connect: proxyAddr, reason: reasonSelf},
		{name: "GET to the proxy itself", get: "http://" + proxyAddr + "/", reason: reasonSelf},
		{name: "CONNECT to the metadata address", connect: "169.254.169.254:443", reason: reasonMetadata},
		{name: "GET to the metadata address", get: "http://169.254.169.254/latest/meta-data/", reason: reasonMetadata},
		{name: "CONNECT to the IPv6 metadata address", connect: "[fd00:ec2::254]:443", reason: reasonMetadata},
		{name: "CONNECT to link-local", connect: "169.254.10.1:443", reason: reasonLinkLocal},
		{name: "CONNECT to 0.0.0.0", connect: "0.0.0.0:" + strconv.Itoa(op), reason: reasonUnspecified},
		{name: "CONNECT to a port no rule lists", connect: "example.test:8443", reason: reasonNotAllowed},
		{name: "CONNECT without a port", connect: "example.test", reason: reasonBadTarget},
		{name: "CONNECT to a name resolving to loopback among others", connect: "rebind.test:443", reason: reasonLoopback},
		{name: "GET to a name resolving to loopback among others", get: "http://rebind.test/", reason: reasonLoopback},
	}
	c := client(p, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dials.take()
			before := counter(t, reg, "ficus_proxy_forward_denied_total", map[string]string{"reason": tc.reason})
			var resp *http.Response
			var body []byte
			if tc.connect != "" {
				_, resp, body = rawConnect(t, proxyAddr, tc.connect)
			} else {
				resp, body = get(t, c, tc.get, nil)
			}
			if tc.reason == "" {
				if resp.StatusCode != http.StatusOK || decodeEcho(t, body).Server != tc.server {
					t.Fatalf("status %d body %s, want 200 from %s", resp.StatusCode, body, tc.server)
				}
				return
			}
			var got struct{ Error, Reason, Target string }
			if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Content-Type") != "application/json" ||
				json.Unmarshal(body, &got) != nil || got.Reason != tc.reason {
				t.Fatalf("got %d %q %s, want 403 JSON with reason %s", resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.reason)
			}
			if d := dials.take(); len(d) > 0 {
				t.Errorf("refused, yet the proxy dialled %v", d)
			}
			after := counter(t, reg, "ficus_proxy_forward_denied_total", map[string]string{"reason": tc.reason})
			if after-before != 1 {
				t.Errorf("denied_total{reason=%s} grew by %v, want 1", tc.reason, after-before)
			}
		})
	}
}

// TestMITMInnerRequestsChecked: a request read from an intercepted tunnel
// to an allowed host is checked again on its own Host, so the tunnel
// cannot carry it to ficus's admin port.
func TestMITMInnerRequestsChecked(t *testing.T) {
	mitmCA := newTestCA(t, "ficus test MITM CA", true)
	upCA := newTestCA(t, "test upstream CA", true)
	legacy := newTLSBackend(t, "legacy", upCA)
	admin := newBackend(t, "admin")
	lh := hostOf(t, legacy.URL)
	p, reg := startProxy(t, Config{
		Allow:       append(allowTo(t, legacy.URL), allowTo(t, admin.URL)...),
		Self:        []string{hostOf(t, admin.URL)},
		UpstreamCAs: upCA.pool(),
		MITM:        &MITMConfig{CACert: mitmCA.certPath, CAKey: mitmCA.keyPath, Hosts: []string{lh}},
		onDial:      (&dialLog{}).add,
	})
	c := client(p, mitmCA.pool())
	if resp, body := get(t, c, legacy.URL+"/ok", nil); resp.StatusCode != http.StatusOK || decodeEcho(t, body).Server != "legacy" {
		t.Fatalf("allowed intercepted request: %d %s", resp.StatusCode, body)
	}
	req, err := http.NewRequest(http.MethodGet, legacy.URL+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = hostOf(t, admin.URL) // the tunnel goes to legacy, the request names admin
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), `"reason":"self"`) {
		t.Errorf("inner request to the admin port: %d %s, want 403 self", resp.StatusCode, body)
	}
	if n := counter(t, reg, "ficus_proxy_forward_denied_total", map[string]string{"reason": reasonSelf}); n != 1 {
		t.Errorf("denied_total{self} = %v, want 1", n)
	}
}

// TestDefaultAllow: without rules, plain HTTP reaches port 80 and CONNECT
// port 443 only, and a rule without ports means the same for its host.
func TestDefaultAllow(t *testing.T) {
	tests := []struct {
		rules      []AllowRule
		host       string
		port       int
		k          kind
		wantReason string
	}{
		{nil, "shop.example", 80, kindPlain, ""},
		{nil, "shop.example", 443, kindTLS, ""},
		{nil, "shop.example", 443, kindPlain, reasonNotAllowed},
		{nil, "shop.example", 80, kindTLS, reasonNotAllowed},
		{nil, "shop.example", 25, kindTLS, reasonNotAllowed},
		{nil, "127.0.0.1", 80, kindPlain, reasonLoopback},
		{nil, "localhost", 443, kindTLS, ""}, // a name: its addresses are checked when dialled
		{[]AllowRule{{Host: "*.example.com"}}, "api.example.com", 443, kindTLS, ""},
		{[]AllowRule{{Host: "*.example.com"}}, "API.Example.com.", 80, kindPlain, ""},
		{[]AllowRule{{Host: "*.example.com"}}, "example.com", 443, kindTLS, reasonNotAllowed},
		{[]AllowRule{{Host: "*.example.com"}}, "evilexample.com", 443, kindTLS, reasonNotAllowed},
		{[]AllowRule{{Host: "*.example.com"}}, "other.test", 443, kindTLS, reasonNotAllowed},
		{[]AllowRule{{Host: "legacy.internal", Ports: []int{8080}}}, "legacy.internal", 8080, kindTLS, ""},
		{[]AllowRule{{Host: "legacy.internal", Ports: []int{8080}}}, "legacy.internal", 80, kindPlain, reasonNotAllowed},
		{[]AllowRule{{Host: "::1", Ports: []int{9000}}}, "[::1]", 9000, kindTLS, ""},
		{[]AllowRule{{Host: "127.0.0.1", Ports: []int{9000}}}, "127.0.0.2", 9000, kindTLS, reasonNotAllowed},
		{[]AllowRule{{Host: "169.254.10.1"}}, "169.254.10.1", 443, kindTLS, ""},
		{[]AllowRule{{Host: "localhost"}}, "127.0.0.1", 80, kindPlain, reasonNotAllowed},
	}
	for _, tc := range tests {
		rules, err := parseAllow(tc.rules)
		if err != nil {
			t.Fatal(err)
		}
		g := &guard{rules: rules, lookup: defaultLookup, denied: newDeniedVec()}
		_, d := g.check(tc.host, tc.port, tc.k)
		got := ""
		if d != nil {
			got = d.reason
		}
		if got != tc.wantReason {
			t.Errorf("rules %v: %s:%d (kind %d) refused for %q, want %q", tc.rules, tc.host, tc.port, tc.k, got, tc.wantReason)
		}
	}
}

// TestSelfBoundEverywhere: a listener on every interface is reached by
// loopback and by any of the host's addresses.
func TestSelfBoundEverywhere(t *testing.T) {
	self, err := parseSelf([]string{":9901", "0.0.0.0:4222", "127.0.0.1:8080", "127.0.0.1:0"}, defaultLookup)
	if err != nil {
		t.Fatal(err)
	}
	if len(self) != 3 {
		t.Fatalf("parsed %d listeners, want 3 (port 0 skipped)", len(self))
	}
	g := &guard{self: self}
	tests := []struct {
		ip   string
		port int
		want bool
	}{
		{"127.0.0.1", 9901, true},
		{"127.0.0.5", 9901, true},
		{"::1", 4222, true},
		{"127.0.0.1", 8080, true},
		{"127.0.0.2", 8080, false}, // bound to 127.0.0.1 only
		{"127.0.0.1", 8081, false},
		{"192.0.2.1", 9901, false}, // not an address of this host
	}
	for _, tc := range tests {
		if got := g.isSelf(netip.MustParseAddr(tc.ip), tc.port); got != tc.want {
			t.Errorf("isSelf(%s, %d) = %v, want %v", tc.ip, tc.port, got, tc.want)
		}
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				ip, _ := netip.AddrFromSlice(n.IP)
				if !g.isSelf(ip.Unmap(), 9901) {
					t.Errorf("interface address %s:9901 not taken as ficus's own", ip)
				}
			}
		}
	}
}

func TestAllowConfigErrors(t *testing.T) {
	tests := []struct {
		rules []AllowRule
		want  string
	}{
		{[]AllowRule{{Host: "ok.example"}, {Host: "169.254.169.254"}}, "proxy.forward.allow[1]: host \"169.254.169.254\": metadata addresses are never"},
		{[]AllowRule{{Host: "0.0.0.0"}}, "unspecified addresses are never reachable"},
		{[]AllowRule{{Host: "a.example", Ports: []int{0}}}, "proxy.forward.allow[0]: port 0"},
		{[]AllowRule{{Host: "a.example", Ports: []int{65536}}}, "port 65536"},
		{[]AllowRule{{Host: "a*b.example"}}, "want a host name"},
		{[]AllowRule{{Host: "*."}}, "want a host name"},
		{[]AllowRule{{Host: ""}}, "want a host name"},
		{[]AllowRule{{Host: "a.example:443"}}, "want a host name"},
	}
	for _, tc := range tests {
		_, err := New(Config{Allow: tc.rules, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("rules %v: error %v, want one containing %q", tc.rules, err, tc.want)
		}
	}
}

func newDeniedVec() *prometheus.CounterVec {
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		panic(err)
	}
	return m.denied
}
