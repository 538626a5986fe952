// Package bus gives the rest of ficus one NATS connection with JetStream: either
// to a server or cluster the user runs (nats.url), or to an embedded nats-server
// started in this process with JetStream on local disk. Callers never see which.
package bus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/backoff"
)

// Config says where NATS is. With no URLs, an embedded server is started.
type Config struct {
	// URLs of an existing server or cluster. Empty means: run the embedded server.
	URLs []string
	// Credentials is a path to a .creds file (user JWT + nkey seed).
	Credentials string
	// TLS file paths. CA alone verifies the server; Cert with Key is a client certificate.
	TLSCA, TLSCert, TLSKey string
	// Name is the connection name shown by `nats server report connections`.
	Name     string
	Embedded EmbeddedConfig
	Logger   *slog.Logger

	// self, when set, is how this client logs in to an embedded server (its
	// own, or another process's: EmbeddedClientConfig); it replaces
	// Credentials and the TLS files.
	self *selfAuth
}

// selfAuth is how ficus logs in to an embedded server.
type selfAuth struct {
	creds Credentials
	tls   *tls.Config // nil without TLS
}

// EmbeddedConfig configures the in-process nats-server.
type EmbeddedConfig struct {
	// Listen is host:port for outside clients (nats CLI, consumers). Port 0 picks a free one.
	Listen   string
	StoreDir string
	// SyncInterval is how often JetStream fsyncs; SyncAlways fsyncs every write.
	SyncInterval time.Duration
	SyncAlways   bool
	// Users are the only clients the server accepts. Empty means one generated
	// user (see CredentialsFile). ficus connects as the user marked Ficus, else
	// the first, which needs a password.
	Users []User
	// TLS, when TLS.Cert is set, serves TLS on the client port.
	TLS ServerTLS
}

// User is a client of the embedded server: Name and Password, or NKey alone.
type User struct {
	Name, Password string
	// NKey is a public user nkey (U…); the client proves it holds the seed.
	NKey string
	// Ficus marks the user ficus itself connects as.
	Ficus bool
	// Publish and Subscribe are the subjects (wildcards allowed) the user may
	// use: nil is no restriction, empty forbids all.
	Publish, Subscribe []string
}

// DefaultSyncInterval is nats-server's own JetStream fsync interval, used when none is set.
const DefaultSyncInterval = 2 * time.Minute

// Bus is an open NATS connection with its JetStream context.
type Bus struct {
	Conn *nats.Conn
	JS   jetstream.JetStream

	srv          *server.Server // nil when connected to an outside server
	self         *selfAuth      // how ficus logs in to srv
	syncInterval time.Duration
	syncAlways   bool
	log          *slog.Logger
	closed       sync.Once
}

// Open connects to NATS, starting the embedded server first when no URL is configured.
// It does not wait for NATS: when the first attempt fails, the Bus is returned
// disconnected and connects in the background (Ready says when it is up); the
// client then reconnects forever with backoff.
func Open(ctx context.Context, cfg Config) (*Bus, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "nats")
	b := &Bus{log: log}
	urls := cfg.URLs
	if len(urls) == 0 {
		srv, self, err := startEmbedded(ctx, cfg.Embedded, log)
		if err != nil {
			return nil, err
		}
		b.srv, b.self = srv, self
		cfg.self = self
		b.syncInterval, b.syncAlways = cfg.Embedded.SyncInterval, cfg.Embedded.SyncAlways
		if b.syncInterval == 0 {
			b.syncInterval = DefaultSyncInterval
		}
		urls = []string{srv.ClientURL()}
	}
	opts, err := clientOptions(cfg, log)
	if err != nil {
		b.shutdownServer()
		return nil, err
	}
	nc, err := connect(ctx, urls, opts, log)
	if err != nil {
		b.shutdownServer()
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		b.shutdownServer()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	b.Conn, b.JS = nc, js
	if nc.IsConnected() {
		log.Info("connected to NATS", "url", nc.ConnectedUrlRedacted(), "embedded", b.srv != nil)
	}
	return b, nil
}

// connect makes one attempt at once and, when NATS cannot be reached,
// returns a connection that keeps trying in the background: ficus must serve
// (the proxy with its last-known routes) before NATS is there — a sidecar
// started before its cluster, or during an outage, must not keep the legacy
// app out of its Service. Only a refused login fails: retrying cannot fix it.
func connect(ctx context.Context, urls []string, opts []nats.Option, log *slog.Logger) (*nats.Conn, error) {
	servers := joinURLs(urls)
	nc, err := nats.Connect(servers, opts...)
	if err == nil {
		return nc, nil
	}
	if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) {
		return nil, fmt.Errorf("connect to NATS (nats.url): %w", err)
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("connect to NATS (nats.url): %w", ctx.Err())
	}
	log.Warn("NATS not reachable yet: running without it and connecting in the background", "err", err)
	opts = append(opts, nats.RetryOnFailedConnect(true), nats.ConnectHandler(func(nc *nats.Conn) {
		log.Info("connected to NATS", "url", nc.ConnectedUrlRedacted())
	}))
	nc, err = nats.Connect(servers, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS (nats.url): %w", err)
	}
	return nc, nil
}

func joinURLs(urls []string) string {
	s := ""
	for i, u := range urls {
		if i > 0 {
			s += ","
		}
		s += u
	}
	return s
}

func clientOptions(cfg Config, log *slog.Logger) ([]nats.Option, error) {
	name := cfg.Name
	if name == "" {
		name = "ficus"
	}
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.CustomReconnectDelay(reconnectDelay),
		nats.ReconnectBufSize(8 << 20),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			log.Warn("disconnected from NATS; reconnecting", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("reconnected to NATS", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Error("NATS async error", "subject", subj, "err", err)
		}),
	}
	if cfg.self != nil {
		// nats.credentials and nats.tls are for an outside server.
		opts = append(opts, nats.UserInfo(cfg.self.creds.User, cfg.self.creds.Password))
		if cfg.self.tls != nil {
			opts = append(opts, nats.Secure(cfg.self.tls))
		}
		return opts, nil
	}
	if cfg.Credentials != "" {
		if _, err := os.Stat(cfg.Credentials); err != nil {
			return nil, fmt.Errorf("nats.credentials: %w", err)
		}
		opts = append(opts, nats.UserCredentials(cfg.Credentials))
	}
	if cfg.TLSCA != "" || cfg.TLSCert != "" {
		tc, err := tlsConfig(cfg.TLSCA, cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Secure(tc))
	}
	return opts, nil
}

// reconnectDelay backs off exponentially to 10 s so a long outage of a cluster
// does not turn into a reconnect storm from every sidecar.
func reconnectDelay(attempts int) time.Duration {
	return backoff.Policy{Initial: 250 * time.Millisecond, Max: 10 * time.Second}.Delay(attempts)
}

func tlsConfig(ca, cert, key string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("nats.tls.ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("nats.tls.ca: %s holds no PEM certificate", ca)
		}
		tc.RootCAs = pool
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("nats.tls.cert/key: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

// Embedded reports whether ficus runs its own nats-server.
func (b *Bus) Embedded() bool { return b.srv != nil }

// ClientURL is the URL outside clients use to reach the embedded server ("" when
// not embedded), without credentials: safe to log.
func (b *Bus) ClientURL() string {
	if b.srv == nil {
		return ""
	}
	return b.srv.ClientURL()
}

// ClientURLWithCredentials is ClientURL with the user and password ficus logs in
// with, for clients that must act as ficus (tests, tools). It is a secret: never log it.
func (b *Bus) ClientURLWithCredentials() string {
	if b.srv == nil {
		return ""
	}
	u := strings.TrimPrefix(strings.TrimPrefix(b.srv.ClientURL(), "nats://"), "tls://")
	return credentialURL(b.self.tls != nil, u, b.self.creds)
}

// SyncPolicy tells publishers how durable an acknowledged message is: with the embedded
// server on interval fsync, a JetStream ack means "in the page cache", and a power cut
// can lose up to `interval` of acknowledged writes. always=true means every ack is on disk.
// For an outside server ficus cannot know its setting and reports (0, false).
func (b *Bus) SyncPolicy() (interval time.Duration, always bool) {
	if b.srv == nil {
		return 0, false
	}
	return b.syncInterval, b.syncAlways
}

// Ready reports whether the connection is up: the "nats" component of
// /api/health (never a readiness check of the request path).
func (b *Bus) Ready(ctx context.Context) error {
	if b.Conn == nil || !b.Conn.IsConnected() {
		return errors.New("not connected to NATS")
	}
	return nil
}

// Close drains the connection (flushing pending publishes and letting subscribers
// finish) and then shuts the embedded server down, waiting at most until ctx ends.
func (b *Bus) Close(ctx context.Context) error {
	var err error
	b.closed.Do(func() {
		if b.Conn != nil {
			err = drain(ctx, b.Conn)
		}
		b.shutdownServer()
	})
	return err
}

func drain(ctx context.Context, nc *nats.Conn) error {
	if !nc.IsConnected() {
		nc.Close()
		return nil
	}
	done := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(done) })
	if err := nc.Drain(); err != nil {
		nc.Close()
		return fmt.Errorf("drain NATS connection: %w", err)
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		nc.Close()
		return fmt.Errorf("drain NATS connection: %w", ctx.Err())
	}
}

func (b *Bus) shutdownServer() {
	if b.srv == nil {
		return
	}
	b.srv.Shutdown()
	b.srv.WaitForShutdown()
}

func splitHostPort(listen string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", portStr)
	}
	return host, port, nil
}
