package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Defaults of the embedded server's listen address and store directory.
const (
	DefaultListen   = "127.0.0.1:4222"
	DefaultStoreDir = "./ficus-data/nats"
)

// startEmbedded runs nats-server in this process with JetStream on cfg.StoreDir,
// requiring authentication; self is how ficus's own connections log in.
func startEmbedded(ctx context.Context, cfg EmbeddedConfig, log *slog.Logger) (*server.Server, *selfAuth, error) {
	listen := cfg.Listen
	if listen == "" {
		listen = DefaultListen
	}
	host, port, err := splitHostPort(listen)
	if err != nil {
		return nil, nil, fmt.Errorf("nats.embedded.listen %q: %w", listen, err)
	}
	// nats-server's accept loop reports a taken port through Fatalf, long after
	// Start returned; probing first lets us say which key to change.
	if port != 0 {
		if err := probeListen(listen); err != nil {
			return nil, nil, err
		}
	} else {
		port = server.RANDOM_PORT
	}
	storeDir := storeDirOf(cfg)
	if err := os.MkdirAll(storeDir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("nats.embedded.store_dir %q: %w", storeDir, err)
	}
	creds, err := selfCredentials(cfg, storeDir, true)
	if err != nil {
		return nil, nil, err
	}
	self := &selfAuth{creds: creds}
	if cfg.TLS.Cert != "" {
		if self.tls, err = selfTLS(cfg.TLS); err != nil {
			return nil, nil, err
		}
	}
	opts := &server.Options{
		ServerName:   "ficus-embedded",
		Host:         host,
		Port:         port,
		JetStream:    true,
		StoreDir:     storeDir,
		SyncInterval: cfg.SyncInterval,
		SyncAlways:   cfg.SyncAlways,
		NoSigs:       true, // ficus owns signal handling
		MaxPayload:   8 << 20,
	}
	serverAuth(opts, cfg, creds)
	if err := serverTLS(opts, cfg.TLS); err != nil {
		return nil, nil, err
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, nil, fmt.Errorf("embedded NATS: %w", err)
	}
	fatal := make(chan string, 1)
	srv.SetLoggerV2(&serverLogger{log: log, fatal: fatal}, false, false, false)
	go srv.Start()
	deadline := 30 * time.Second
	if d, ok := ctx.Deadline(); ok {
		deadline = time.Until(d)
	}
	if !srv.ReadyForConnections(deadline) {
		srv.Shutdown()
		select {
		case msg := <-fatal:
			return nil, nil, fmt.Errorf("embedded NATS on %s (nats.embedded.listen): %s", listen, msg)
		default:
			return nil, nil, fmt.Errorf("embedded NATS on %s did not become ready within %s", listen, deadline)
		}
	}
	// The user names and where they come from, never a password.
	auth := "generated credentials in " + filepath.Join(storeDir, CredentialsFile)
	if len(cfg.Users) > 0 {
		auth = fmt.Sprintf("%d configured users (nats.embedded.auth)", len(cfg.Users))
	}
	log.Info("embedded NATS started", "listen", srv.ClientURL(), "store_dir", storeDir,
		"sync_interval", opts.SyncInterval.String(), "sync_always", opts.SyncAlways,
		"auth", auth, "user", creds.User, "tls", opts.TLSConfig != nil)
	return srv, self, nil
}

func probeListen(listen string) error {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("embedded NATS cannot listen on %s: address already in use; "+
				"set nats.embedded.listen to a free address (port 0 picks one) or set nats.url to use the server already there", listen)
		}
		return fmt.Errorf("embedded NATS cannot listen on %s (nats.embedded.listen): %w", listen, err)
	}
	return l.Close()
}

// serverLogger routes nats-server's log lines into slog, and keeps a Fatalf from
// exiting the whole ficus process.
type serverLogger struct {
	log   *slog.Logger
	fatal chan string
}

func (l *serverLogger) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *serverLogger) Warnf(format string, v ...any) {
	// The warning is for passwords written in a config file; ficus's are in
	// memory, from a 0600 file or the environment, and clients need them in clear.
	if strings.HasPrefix(format, "Plaintext passwords detected") {
		l.log.Debug(fmt.Sprintf(format, v...))
		return
	}
	l.log.Warn(fmt.Sprintf(format, v...))
}
func (l *serverLogger) Errorf(format string, v ...any) { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *serverLogger) Debugf(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *serverLogger) Tracef(format string, v ...any) {}
func (l *serverLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.Error(msg)
	select {
	case l.fatal <- msg:
	default:
	}
}
