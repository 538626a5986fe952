package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/capture/mysql"
	"github.com/ficus-migrate/ficus/capture/sink"
)

const mysqlSource = "bench"

// mysqlFicus is one `ficus capture` process of the MySQL benchmark. Both
// runs of a mode (seed, then drain) share its config and JetStream store, so
// the drain resumes from the checkpoint the seed run saved.
type mysqlFicus struct {
	began  time.Time
	pid    int
	nc     *nats.Conn
	js     jetstream.JetStream
	exited chan struct{}
	stop   func() error
}

// startMySQLFicus starts the real binary with a mysql source (snapshot
// never) on the mode's embedded NATS store.
func startMySQLFicus(ctx context.Context, bin, dir, dsn string, mode syncMode, profile string) (*mysqlFicus, error) {
	natsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "ficus-mysql-"+mode.slotSuffix()+".yaml")
	cfg := fmt.Sprintf(`log:
  level: warn
nats:
  embedded:
    listen: 127.0.0.1:%d
    store_dir: %s
    sync_interval: %s
admin:
  listen: 127.0.0.1:0
capture:
  sources:
    - name: %s
      type: mysql
      dsn: %s
      server_id: 4242
      tables: [ficus.orders]
      snapshot: never
`, natsPort, filepath.Join(dir, "nats-ficus-mysql-"+mode.slotSuffix()), mode.yaml(), mysqlSource, dsn)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, fmt.Errorf("write ficus config: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(dir, "ficus-mysql-"+mode.slotSuffix()+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("ficus log: %w", err)
	}
	cmd := exec.Command(bin, "capture", "-c", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = os.Environ()
	if profile != "" {
		cmd.Env = append(cmd.Env, "FICUS_CPUPROFILE="+profile)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	f := &mysqlFicus{began: time.Now(), exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		_ = logf.Close() // nothing was written to it; the start error is the one to report
		return nil, fmt.Errorf("start ficus: %w", err)
	}
	f.pid = cmd.Process.Pid
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		_ = logf.Close() // the child wrote through its own copy of the descriptor
		close(f.exited)
	}()
	f.stop = func() error {
		if f.nc != nil {
			f.nc.Close()
		}
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-f.exited:
			return waitErr
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-f.exited
			return errors.New("ficus did not stop within 30s")
		}
	}
	natsURL, err := ficusNATSURL(natsPort, filepath.Join(dir, "nats-ficus-mysql-"+mode.slotSuffix()))
	if err == nil {
		f.nc, err = connectRetry(ctx, natsURL, f.exited)
	}
	if err != nil {
		return nil, errors.Join(err, f.stop())
	}
	if f.js, err = jetstream.New(f.nc); err != nil {
		return nil, errors.Join(fmt.Errorf("jetstream: %w", err), f.stop())
	}
	return f, nil
}

// checkpoint returns the source's saved position, or nil before the first.
func (f *mysqlFicus) checkpoint(ctx context.Context) (*mysql.Position, error) {
	kv, err := f.js.KeyValue(ctx, sink.DefaultCheckpointStore)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint bucket: %w", err)
	}
	e, err := kv.Get(ctx, mysqlSource+".position")
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	p, err := mysql.ParsePosition(e.Value())
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return &p, nil
}

// seedMySQLFicus runs ficus once on the still empty table: with snapshot
// never it saves the current binlog position at once, so the timed run
// afterwards starts from there, before the loaded rows.
func seedMySQLFicus(ctx context.Context, bin, dir, dsn string, mode syncMode) (mysql.Position, error) {
	f, err := startMySQLFicus(ctx, bin, dir, dsn, mode, "")
	if err != nil {
		return mysql.Position{}, err
	}
	for {
		p, err := f.checkpoint(ctx)
		if err != nil {
			return mysql.Position{}, errors.Join(err, f.stop())
		}
		if p != nil {
			return *p, f.stop()
		}
		if err := pause(ctx, f.exited, 50*time.Millisecond); err != nil {
			return mysql.Position{}, errors.Join(err, f.stop())
		}
	}
}

// mysqlDrain is one timed drain of the binlog by ficus.
type mysqlDrain struct {
	StreamFull   time.Duration // all N events in the stream
	Checkpointed time.Duration // and the saved checkpoint at or past the binlog end
	CPU          time.Duration // ficus's user+system CPU (embedded NATS included) until StreamFull
	Final        mysql.Position
	f            *mysqlFicus
}

// drainMySQL restarts ficus on the seeded store and times it until the
// stream holds n events and the checkpoint covers end.
func drainMySQL(ctx context.Context, bin, dir, dsn string, mode syncMode, n uint64, end binlogEnd, profile string) (*mysqlDrain, error) {
	f, err := startMySQLFicus(ctx, bin, dir, dsn, mode, profile)
	if err != nil {
		return nil, err
	}
	d := &mysqlDrain{f: f}
	fail := func(err error) (*mysqlDrain, error) { return nil, errors.Join(err, f.stop()) }
	stream := sink.StreamName(mysqlSource)
	var st jetstream.Stream
	for {
		if st == nil {
			st, _ = f.js.Stream(ctx, stream)
		} else if info, err := st.Info(ctx); err == nil && info.State.Msgs >= n {
			d.StreamFull = time.Since(f.began)
			d.CPU, _ = processCPU(f.pid)
			break
		}
		if err := pause(ctx, f.exited, 100*time.Millisecond); err != nil {
			return fail(err)
		}
	}
	for {
		p, err := f.checkpoint(ctx)
		if err != nil {
			return fail(err)
		}
		if p != nil && (p.File > end.File || p.File == end.File && p.Pos >= end.Pos) {
			d.Checkpointed = time.Since(f.began)
			d.Final = *p
			return d, nil
		}
		if err := pause(ctx, f.exited, 100*time.Millisecond); err != nil {
			return fail(err)
		}
	}
}
