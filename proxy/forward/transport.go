package forward

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ficus-migrate/ficus/proxy/upstream"
)

// transports holds one *http.Transport per distinct Timeouts and side.
// Destinations in forward mode are not known in advance, so a transport is
// shared by all hosts and pools connections per host itself.
type transports struct {
	tlsConf         *tls.Config
	maxConnsPerHost int
	maxIdlePerHost  int
	guard           *guard

	mu  sync.Mutex
	byT map[transportKey]*http.Transport
}

// transportKey keeps the pools of checked destinations (chosen by clients)
// and of routes' new sides (chosen by the operator) apart, so that a
// connection dialled without the guard is never reused for a client's
// destination.
type transportKey struct {
	t       upstream.Timeouts
	trusted bool
}

func newTransports(extra *x509.CertPool, maxConnsPerHost, maxIdlePerHost int, g *guard) *transports {
	return &transports{
		tlsConf:         upstreamTLS(extra),
		maxConnsPerHost: maxConnsPerHost,
		maxIdlePerHost:  maxIdlePerHost,
		guard:           g,
		byT:             make(map[transportKey]*http.Transport),
	}
}

// get returns the transport for t; trusted is for a route's new side, whose
// address comes from the configuration, every other one dials through the
// guard.
func (ts *transports) get(t upstream.Timeouts, trusted bool) *http.Transport {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	key := transportKey{t, trusted}
	if tr, ok := ts.byT[key]; ok {
		return tr
	}
	dial := ts.guard.dialer(t.Connect)
	if trusted {
		dial = (&net.Dialer{Timeout: t.Connect, KeepAlive: 30 * time.Second}).DialContext
	}
	tr := &http.Transport{
		Proxy:             nil, // never chain through $HTTP_PROXY: we are the proxy
		DialContext:       dial,
		TLSClientConfig:   ts.tlsConf.Clone(),
		ForceAttemptHTTP2: true,
		// Clients must receive exactly the bytes the upstream sent: Go must
		// neither add Accept-Encoding nor transparently gunzip.
		DisableCompression:    true,
		MaxConnsPerHost:       ts.maxConnsPerHost,
		MaxIdleConnsPerHost:   ts.maxIdlePerHost,
		IdleConnTimeout:       t.Idle,
		ResponseHeaderTimeout: t.ResponseHeader,
		TLSHandshakeTimeout:   t.Connect,
		ExpectContinueTimeout: time.Second,
	}
	ts.byT[key] = tr
	return tr
}

func (ts *transports) closeIdle() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, tr := range ts.byT {
		tr.CloseIdleConnections()
	}
}

// upstreamTLS verifies upstream certificates against the system roots and,
// when extra is set, alternatively against extra. tls.Config takes a single
// root pool and CertPools cannot be merged, so with extra the chain and host
// name are checked in VerifyConnection (the pattern from crypto/tls's
// documentation); without extra the standard verifier is used unchanged.
func upstreamTLS(extra *x509.CertPool) *tls.Config {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if extra == nil {
		return conf
	}
	system, err := x509.SystemCertPool()
	if err != nil {
		system = nil // no system roots on this host: only extra can verify
	}
	conf.InsecureSkipVerify = true // replaced by the full check below
	conf.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("upstream presented no certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		var firstErr error
		for _, roots := range []*x509.CertPool{system, extra} {
			if roots == nil {
				continue
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
				DNSName:       cs.ServerName,
				Roots:         roots,
				Intermediates: inter,
			})
			if err == nil {
				return nil
			}
			if firstErr == nil {
				firstErr = err
			}
		}
		return fmt.Errorf("verify upstream certificate: %w", firstErr)
	}
	return conf
}

var errTunnelsSaturated = errors.New("too many open tunnels")

// dialTunnel opens the upstream side of an untouched CONNECT tunnel. It
// holds a tunnel slot until goproxy closes the connection.
func (p *Proxy) dialTunnel(req *http.Request, network, addr string) (net.Conn, error) {
	select {
	case p.tunnels <- struct{}{}:
	default:
		return nil, errTunnelsSaturated
	}
	release := func() { <-p.tunnels }
	c, err := p.guard.dial(req.Context(), network, addr, kindTLS, p.cfg.Timeouts.Connect)
	if err != nil {
		release()
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		release()
		_ = c.Close()
		return nil, fmt.Errorf("dial %s: not a TCP connection", addr)
	}
	// Embedding *net.TCPConn keeps CloseWrite/CloseRead visible, which
	// goproxy needs for its half-close relay.
	return &releasingConn{TCPConn: tc, release: release}, nil
}

type releasingConn struct {
	*net.TCPConn
	once    sync.Once
	release func()
}

func (c *releasingConn) Close() error {
	c.once.Do(c.release)
	return c.TCPConn.Close()
}

// connSet tracks accepted client connections so that Run can close the
// hijacked ones (CONNECT tunnels, MITM sessions, WebSockets), which
// http.Server.Shutdown no longer knows about.
type connSet struct {
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

type trackedConn struct {
	*net.TCPConn
	set  *connSet
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.set.mu.Lock()
		delete(c.set.conns, c)
		c.set.mu.Unlock()
	})
	return c.TCPConn.Close()
}

func (s *connSet) closeAll() int {
	s.mu.Lock()
	all := make([]*trackedConn, 0, len(s.conns))
	for c := range s.conns {
		all = append(all, c)
	}
	s.mu.Unlock()
	for _, c := range all {
		_ = c.Close()
	}
	return len(all)
}

type trackingListener struct {
	net.Listener
	set *connSet
}

func (l trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c, nil
	}
	t := &trackedConn{TCPConn: tc, set: l.set}
	l.set.mu.Lock()
	l.set.conns[t] = struct{}{}
	l.set.mu.Unlock()
	return t, nil
}
