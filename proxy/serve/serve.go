// Package serve runs an HTTP listener the way both proxy modes need it: bind,
// announce readiness, serve, and on shutdown drain in-flight requests before the
// request contexts (and so hijacked tunnels) are cancelled.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Config configures one listener.
type Config struct {
	// Name prefixes log lines and errors ("proxy", "forward proxy").
	Name              string
	Listen            string
	MaxHeaderBytes    int
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	// ShutdownTimeout bounds the graceful drain; then connections are closed.
	ShutdownTimeout time.Duration
	ErrorLog        *log.Logger
	Logger          *slog.Logger
	// WrapListener, when set, wraps the bound listener (e.g. to track hijacked connections).
	WrapListener func(net.Listener) net.Listener
	// RecordHeads keeps each connection's recent bytes so that handlers can
	// call FramingConflict.
	RecordHeads bool
}

// Server is one listener's lifecycle; the zero value is not usable, use New.
type Server struct {
	addr    atomic.Pointer[net.Addr]
	ready   chan struct{}
	running atomic.Bool
}

// New returns a Server that has not started listening.
func New() *Server { return &Server{ready: make(chan struct{})} }

// Ready is closed once Run is listening; Addr is valid from then on.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr returns the bound address, or nil before Run listens.
func (s *Server) Addr() net.Addr {
	if a := s.addr.Load(); a != nil {
		return *a
	}
	return nil
}

// Run listens on cfg.Listen and serves h until ctx is done, then drains in-flight
// requests for up to cfg.ShutdownTimeout. Request contexts are cancelled only after
// the drain, so hijacked tunnels (which Shutdown does not track) end then. Run may
// be called once; logArgs are added to the "listening" log line.
func (s *Server) Run(ctx context.Context, cfg Config, h http.Handler, logArgs ...any) error {
	if !s.running.CompareAndSwap(false, true) {
		return fmt.Errorf("%s: Run called twice", cfg.Name)
	}
	if cfg.Listen == "" {
		return fmt.Errorf("%s: listen address is required", cfg.Name)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("%s listen %q: %w", cfg.Name, cfg.Listen, err)
	}
	a := ln.Addr()
	s.addr.Store(&a)
	close(s.ready)
	if cfg.WrapListener != nil {
		ln = cfg.WrapListener(ln)
	}
	var connCtx func(context.Context, net.Conn) context.Context
	if cfg.RecordHeads {
		ln, connCtx = recordingListener{ln}, connContext
	}
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv := &http.Server{
		Handler:           h,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		ErrorLog:          cfg.ErrorLog,
		BaseContext:       func(net.Listener) context.Context { return base },
		ConnContext:       connCtx,
	}
	cfg.Logger.Info(cfg.Name+" listening", append([]any{"addr", a.String()}, logArgs...)...)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("%s serve: %w", cfg.Name, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	cancelBase()
	if err != nil {
		cfg.Logger.Warn("graceful shutdown timed out; closing connections", "err", err)
		_ = srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s serve: %w", cfg.Name, err)
	}
	return nil
}
