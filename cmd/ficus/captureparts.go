package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/capture/backfill"
	"github.com/ficus-migrate/ficus/capture/mysql"
	"github.com/ficus-migrate/ficus/capture/postgres"
	"github.com/ficus-migrate/ficus/capture/sink"
	"github.com/ficus-migrate/ficus/capture/standby"
	"github.com/ficus-migrate/ficus/internal/config"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// startCapture runs every source behind its standby lease (capture/standby):
// of the processes capturing a source, the one holding the lease streams.
func startCapture(ctx context.Context, g *errgroup.Group, rt *proc) error {
	cc := rt.cfg.Capture
	delay := confirmDelay(rt)
	instance := instanceID()
	rt.capture = map[string]*standby.Standby{}
	rt.backfill = map[string]*backfill.Manager{}
	stream := sink.StreamConfig{
		Replicas:        cc.Stream.Replicas,
		MaxAge:          cc.Stream.MaxAge,
		MaxBytes:        cc.Stream.MaxBytes,
		DuplicateWindow: cc.Stream.DuplicateWindow,
	}
	for i, src := range cc.Sources {
		var s capture.Source
		var err error
		confirmed := &capture.Confirmed{}
		masker, err := src.Masker(cc.MaskSecret)
		if err != nil {
			return fmt.Errorf("capture.sources[%d] (%s): %w", i, src.Name, err)
		}
		dialect := canon.Postgres
		if src.Type == config.SourceMySQL {
			dialect = canon.MySQL
		}
		bf, err := backfill.New(backfill.Config{Source: src.Name, Dialect: dialect, JS: rt.bus.JS,
			Replicas: cc.Stream.Replicas, Logger: rt.log, Registerer: rt.reg})
		if err != nil {
			return fmt.Errorf("capture.sources[%d] (%s): %w", i, src.Name, err)
		}
		rt.backfill[src.Name] = bf
		switch src.Type {
		case config.SourcePostgres:
			s, err = postgres.New(postgres.Config{
				Backfill:        bf,
				SignalTable:     src.SignalTableName(),
				Name:            src.Name,
				DSN:             src.DSN.Reveal(),
				Tables:          src.TableNames(),
				Subjects:        src.Subjects(),
				Slot:            src.SlotName(),
				Publication:     src.PublicationName(),
				Snapshot:        string(src.Snapshot),
				DecimalHandling: string(src.DecimalHandling),
				SubjectPrefix:   cc.SubjectPrefix,
				Stream:          stream,
				NATS:            rt.bus.Conn,
				ConfirmDelay:    delay,
				Logger:          rt.log,
				Registerer:      rt.reg,
				Transform:       rt.plugins.transform(src),
				Confirmed:       confirmed,
				Mask:            masker,
			})
		case config.SourceMySQL:
			s, err = mysql.New(mysql.Config{
				Backfill:         bf,
				SignalTable:      src.SignalTableName(),
				Name:             src.Name,
				DSN:              src.DSN.Reveal(),
				ServerID:         src.ServerID,
				DecimalHandling:  string(src.DecimalHandling),
				Tinyint1Handling: string(src.Tinyint1Handling),
				Tables:           src.TableNames(),
				Subjects:         src.Subjects(),
				Snapshot:         string(src.Snapshot),
				SubjectPrefix:    cc.SubjectPrefix,
				Stream:           stream,
				NATS:             rt.bus.Conn,
				ConfirmDelay:     delay,
				Logger:           rt.log,
				Registerer:       rt.reg,
				Transform:        rt.plugins.transform(src),
				Confirmed:        confirmed,
				Mask:             masker,
			})
		default:
			return fmt.Errorf("capture.sources[%d] (%s): unknown type %s", i, src.Name, src.Type)
		}
		if err != nil {
			return fmt.Errorf("capture.sources[%d]: %w", i, err)
		}
		sb, err := standby.New(standby.Config{
			Source: src.Name, Instance: instance, JS: rt.bus.JS, Replicas: cc.Stream.Replicas,
			LeaseTTL: cc.Standby.LeaseTTL, Confirmed: confirmed, Logger: rt.log, Registerer: rt.reg,
		}, s)
		if err != nil {
			return fmt.Errorf("capture.sources[%d]: %w", i, err)
		}
		rt.capture[src.Name] = sb
		runSource(ctx, g, rt, src.Name, sb)
	}
	rt.log.Info("capture started", "sources", len(cc.Sources), "confirm_delay", delay.String(),
		"instance", instance, "lease_ttl", cc.Standby.LeaseTTL.String())
	return nil
}

// confirmDelay is how long a JetStream ack must age before its position is
// confirmed to the database. The embedded single-node server fsyncs on an
// interval, so an ack only means "in the page cache": a power cut could lose up
// to one interval of acknowledged events. Waiting out that interval (plus a
// margin) before confirming means the database still holds every change that
// JetStream might have lost. With sync_interval: always, or an outside server
// (whose durability is its replicas'), an ack is final.
func confirmDelay(rt *proc) time.Duration {
	interval, always := rt.bus.SyncPolicy()
	if !rt.bus.Embedded() || always {
		return 0
	}
	return interval + time.Second
}

// runSource runs one source. A source that fails for good (bad table, missing
// privilege) is reported on /readyz and in the log, and does not stop the other
// parts of the process.
func runSource(ctx context.Context, g *errgroup.Group, rt *proc, name string, src capture.Source) {
	var failed atomic.Pointer[error]
	rt.partCheck("capture."+name, func(context.Context) error {
		if p := failed.Load(); p != nil {
			return *p
		}
		if !rt.bus.Conn.IsConnected() {
			// The source waits: nothing unpublished is confirmed to the
			// database, which keeps every change until NATS is back.
			return errors.New("paused: NATS unreachable; nothing is confirmed to the database until it is back")
		}
		return nil
	})
	g.Go(func() error {
		err := src.Run(ctx)
		if err != nil && !errors.Is(err, context.Canceled) {
			err = fmt.Errorf("source %s failed: %w", name, err)
			failed.Store(&err)
			rt.captureFailed.Store(name, err)
			rt.log.Error("capture source stopped", "component", "capture", "source", name, "err", err)
		}
		return nil
	})
}
