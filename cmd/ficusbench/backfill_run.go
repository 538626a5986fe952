package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/capture/backfill"
	"github.com/ficus-migrate/ficus/capture/mysql"
	"github.com/ficus-migrate/ficus/capture/postgres"
	"github.com/ficus-migrate/ficus/capture/sink"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// setup starts the engine's server, loads the table (the capture
// benchmarks' orders rows, plus a wrote_at column the writer sets) and
// returns how to stop the server.
func (b *bfBench) setup(ctx context.Context, engine string) (func(), error) {
	switch engine {
	case "postgres":
		pg, err := startPostgres(ctx, b.log)
		if err != nil {
			return nil, err
		}
		stop := func() { closeLogged(b.log, "postgres", pg) }
		conn, err := pgx.Connect(ctx, pg.DSN())
		if err != nil {
			stop()
			return nil, fmt.Errorf("connect postgres: %w", err)
		}
		defer conn.Close(context.WithoutCancel(ctx))
		if _, err := conn.Exec(ctx, ordersDDL); err != nil {
			stop()
			return nil, fmt.Errorf("create table: %w", err)
		}
		b.log.Info("loading rows", "rows", b.rows)
		if _, err := loadRows(ctx, conn, b.rows, 250_000); err != nil {
			stop()
			return nil, err
		}
		if _, err := conn.Exec(ctx, "ALTER TABLE public.orders ADD COLUMN wrote_at bigint"); err != nil {
			stop()
			return nil, fmt.Errorf("add column: %w", err)
		}
		b.eng, b.table = canon.Postgres, "public.orders"
		b.update = func(ctx context.Context) (func(context.Context, int64, int) error, func(), error) {
			c, err := pgx.Connect(ctx, pg.DSN())
			if err != nil {
				return nil, nil, err
			}
			return func(ctx context.Context, at int64, id int) error {
					_, err := c.Exec(ctx, "UPDATE public.orders SET wrote_at = $1 WHERE id = $2", at, id)
					return err
				}, func() {
					c.Close(context.WithoutCancel(ctx)) //nolint:errcheck // closing
				}, nil
		}
		b.source = func(name, snapshot string, mgr *backfill.Manager) (capture.Source, error) {
			return postgres.New(postgres.Config{Name: name, DSN: pg.DSN(), NATS: b.nc, Tables: []string{b.table},
				Snapshot: snapshot, Backfill: mgr, Logger: quietLogger()})
		}
		return stop, nil
	case "mysql":
		m, err := startMariaDB(ctx, b.log)
		if err != nil {
			return nil, err
		}
		stop := func() { closeLogged(b.log, "mariadb", m) }
		db, err := sql.Open("mysql", m.DSN())
		if err != nil {
			stop()
			return nil, err
		}
		stop = func() {
			_ = db.Close() // closing
			closeLogged(b.log, "mariadb", m)
		}
		if _, err := db.ExecContext(ctx, mysqlOrdersDDL); err != nil {
			stop()
			return nil, fmt.Errorf("create table: %w", err)
		}
		b.log.Info("loading rows", "rows", b.rows)
		if _, err := loadMySQLRows(ctx, db, b.rows, 250_000); err != nil {
			stop()
			return nil, err
		}
		if _, err := db.ExecContext(ctx, "ALTER TABLE ficus.orders ADD COLUMN wrote_at bigint NULL"); err != nil {
			stop()
			return nil, fmt.Errorf("add column: %w", err)
		}
		b.eng, b.table = canon.MySQL, "ficus.orders"
		b.update = func(context.Context) (func(context.Context, int64, int) error, func(), error) {
			return func(ctx context.Context, at int64, id int) error {
				_, err := db.ExecContext(ctx, "UPDATE ficus.orders SET wrote_at = ? WHERE id = ?", at, id)
				return err
			}, func() {}, nil
		}
		serverID := uint32(100)
		b.source = func(name, snapshot string, mgr *backfill.Manager) (capture.Source, error) {
			serverID++
			return mysql.New(mysql.Config{Name: name, DSN: m.DSN(), ServerID: serverID, NATS: b.nc, Tables: []string{b.table},
				Snapshot: snapshot, Backfill: mgr, Logger: quietLogger()})
		}
		return stop, nil
	}
	return nil, fmt.Errorf("engine %q: want postgres or mysql", engine)
}

// underWrites runs a second backfill of the table while writers update
// random rows at b.writer changes/s, and measures the lag of the streamed
// changes: from the write (wrote_at, the writer's clock) to a consumer of
// the stream reading it.
func (b *bfBench) underWrites(ctx context.Context, mgr *backfill.Manager, r *backfillEngineR) error {
	st, err := b.js.Stream(ctx, sink.StreamName("bf"))
	if err != nil {
		return err
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		return err
	}
	var phase atomic.Int32 // 0 before the backfill, 1 during, 2 after
	// lags: the reader's (write to the event's ts_ms, when the reader
	// turned the change into an event: what the backfill can delay), and
	// to this consumer (JetStream included).
	var mu sync.Mutex // the callback's goroutine appends, this one reads at the end
	var lags, recv [3][]float64
	update := []byte(`{"op":"u"`)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if !bytes.HasPrefix(m.Data(), update) {
			return // the backfill's op r events: skipped cheaply, so this consumer keeps up
		}
		var ev struct {
			TsMs  int64 `json:"ts_ms"`
			After struct {
				WroteAt *int64 `json:"wrote_at"`
			} `json:"after"`
		}
		if json.Unmarshal(m.Data(), &ev) != nil || ev.After.WroteAt == nil {
			return
		}
		p := phase.Load()
		mu.Lock()
		defer mu.Unlock()
		lags[p] = append(lags[p], float64(ev.TsMs*1000-*ev.After.WroteAt)/1000)
		recv[p] = append(recv[p], float64(time.Now().UnixMicro()-*ev.After.WroteAt)/1000)
	})
	if err != nil {
		return err
	}
	wctx, stopWriters := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var written atomic.Int64
	// Enough connections that a round trip of several ms on a loaded
	// machine still allows the rate; each writes one change per tick (a
	// ceiling: a slow round trip skips ticks).
	const writers = 16
	tick := time.Duration(writers) * time.Second / time.Duration(max(b.writer, 1))
	began := time.Now()
	for range writers {
		exec, closeFn, err := b.update(ctx)
		if err != nil {
			stopWriters()
			wg.Wait()
			return fmt.Errorf("writer: %w", err)
		}
		wg.Go(func() {
			defer closeFn()
			t := time.NewTicker(tick)
			defer t.Stop()
			for {
				select {
				case <-wctx.Done():
					return
				case <-t.C:
				}
				if err := exec(wctx, time.Now().UnixMicro(), 1+rand.IntN(b.rows)); err != nil {
					if wctx.Err() == nil {
						b.log.Warn("writer", "err", err)
					}
					return
				}
				written.Add(1)
			}
		})
	}
	time.Sleep(5 * time.Second)
	took, err := b.backfill(ctx, mgr, func() { phase.Store(1) })
	phase.Store(2)
	time.Sleep(2 * time.Second)
	stopWriters()
	wg.Wait()
	r.WriterRate = float64(written.Load()) / time.Since(began).Seconds()
	time.Sleep(2 * time.Second) // the last changes reach the consumer
	cc.Stop()
	if err != nil {
		return err
	}
	r.BackfillUnderWrites = newRate(b.rows, took)
	mu.Lock()
	defer mu.Unlock()
	during := lags[1]
	r.LagSamples = len(during)
	r.LagP50Ms, r.LagP99Ms, r.LagMaxMs = quantile(during, 0.5), quantile(during, 0.99), quantile(during, 1)
	r.BaselineLagP99Ms = quantile(lags[0], 0.99)
	r.ConsumerLagP99Ms, r.BaselineConsumerLagP99Ms = quantile(recv[1], 0.99), quantile(recv[0], 0.99)
	b.log.Info("lag during the backfill", "p50_ms", r.LagP50Ms, "p99_ms", r.LagP99Ms, "writer_per_s", int(r.WriterRate))
	return nil
}

func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}
