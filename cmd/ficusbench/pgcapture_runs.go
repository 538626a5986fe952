package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/capture/sink"
	"github.com/ficus-migrate/ficus/internal/bus"
	"github.com/ficus-migrate/ficus/internal/testenv"
)

const pgRecvLogical = "/usr/lib/postgresql/15/bin/pg_recvlogical"

// runRecvLogical drains slot with PostgreSQL's own client up to endLSN: the
// database's decoding limit, with no sink behind it.
func runRecvLogical(ctx context.Context, pg *testenv.Postgres, slot, publication, endLSN, out string) (time.Duration, int64, error) {
	cmd := exec.CommandContext(ctx, pgRecvLogical,
		"-h", pg.Host, "-p", strconv.Itoa(pg.Port), "-U", pg.User, "-d", pg.Database,
		"--start", "-S", slot, "-P", "pgoutput",
		"-o", "proto_version=1", "-o", "publication_names="+publication,
		"-f", out, "--no-loop", "-E", endLSN, "-s", "1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	began := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("pg_recvlogical: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	took := time.Since(began)
	fi, err := os.Stat(out)
	if err != nil {
		return 0, 0, fmt.Errorf("pg_recvlogical output: %w", err)
	}
	return took, fi.Size(), nil
}

// sample is a real ficus message, replayed by the sink benchmark.
type sample struct {
	data   []byte
	header nats.Header
}

// sampleEvents reads up to n messages spread evenly over a ficus stream.
func sampleEvents(ctx context.Context, js jetstream.JetStream, stream string, total uint64, n int) ([]sample, float64, error) {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, 0, fmt.Errorf("open stream %s: %w", stream, err)
	}
	step := max(total/uint64(n), 1)
	var out []sample
	var bytes int
	for seq := uint64(1); seq <= total && len(out) < n; seq += step {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			return nil, 0, fmt.Errorf("read %s seq %d: %w", stream, seq, err)
		}
		out = append(out, sample{data: m.Data, header: m.Header})
		bytes += len(m.Data) + headerSize(m.Header)
	}
	if len(out) == 0 {
		return nil, 0, errors.New("no events to sample")
	}
	return out, float64(bytes) / float64(len(out)), nil
}

// headerSize is the size of h in the NATS wire format.
func headerSize(h nats.Header) int {
	n := len("NATS/1.0\r\n\r\n")
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(": \r\n") + len(v)
		}
	}
	return n
}

// syncMode is one JetStream durability setting of the embedded server.
type syncMode struct {
	Name     string        `json:"name"` // "always" or the interval
	Always   bool          `json:"always"`
	Interval time.Duration `json:"interval_ns"`
}

func (m syncMode) yaml() string {
	if m.Always {
		return "always"
	}
	return m.Interval.String()
}

// confirmDelay mirrors cmd/ficus: with interval fsync an ack is only durable
// once the interval (plus a margin) has passed.
func (m syncMode) confirmDelay() time.Duration {
	if m.Always {
		return 0
	}
	return m.Interval + time.Second
}

// runSinkOnly publishes the samples (cycled, each with a fresh message id) to
// a stream made exactly as ficus makes its own, on an embedded server started
// by the same code as ficus's, with the same bound on pending acks.
func runSinkOnly(ctx context.Context, dir string, mode syncMode, samples []sample, n int) (took, cpu time.Duration, err error) {
	b, err := bus.Open(ctx, bus.Config{Name: "ficusbench", Embedded: bus.EmbeddedConfig{
		Listen: "127.0.0.1:0", StoreDir: filepath.Join(dir, "nats-sink-"+mode.Name),
		SyncInterval: mode.Interval, SyncAlways: mode.Always,
	}, Logger: quietLogger()})
	if err != nil {
		return 0, 0, err
	}
	defer b.Close(context.WithoutCancel(ctx))
	pub, err := sink.New(ctx, sink.Config{Conn: b.Conn, Source: "sinkbench", Logger: quietLogger()})
	if err != nil {
		return 0, 0, err
	}
	stream := pub.StreamName()
	pub.Close()
	js, err := jetstream.New(b.Conn, jetstream.WithPublishAsyncMaxPending(sink.DefaultMaxPending),
		jetstream.WithPublishAsyncTimeout(sink.DefaultAckTimeout))
	if err != nil {
		return 0, 0, fmt.Errorf("jetstream: %w", err)
	}
	subject := sink.Subject(sink.DefaultSubjectPrefix, "sinkbench", "public", "orders")
	cpu0 := selfCPU()
	began := time.Now()
	var failed int
	futures := make([]jetstream.PubAckFuture, 0, sink.DefaultMaxPending)
	for i := 0; i < n; i++ {
		s := samples[i%len(samples)]
		msg := &nats.Msg{Subject: subject, Data: s.data, Header: make(nats.Header, len(s.header))}
		for k, v := range s.header {
			msg.Header[k] = v
		}
		msg.Header.Set(jetstream.MsgIDHeader, "sinkbench:"+strconv.Itoa(i))
		paf, err := js.PublishMsgAsync(msg, jetstream.WithExpectStream(stream))
		if err != nil {
			return 0, 0, fmt.Errorf("publish %d: %w", i, err)
		}
		futures = append(futures, paf)
		if len(futures) == cap(futures) {
			failed += awaitAcks(ctx, futures)
			futures = futures[:0]
		}
	}
	failed += awaitAcks(ctx, futures)
	took = time.Since(began)
	cpu = selfCPU() - cpu0
	if failed > 0 {
		return 0, 0, fmt.Errorf("%d of %d publishes failed", failed, n)
	}
	info, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	if got := info.CachedInfo().State.Msgs; got != uint64(n) {
		return 0, 0, fmt.Errorf("stream %s holds %d messages, want %d", stream, got, n)
	}
	return took, cpu, nil
}

// awaitAcks waits for every future in turn; publishing continues meanwhile
// up to the library's pending limit, as ficus's sink does.
func awaitAcks(ctx context.Context, fs []jetstream.PubAckFuture) (failed int) {
	for _, f := range fs {
		select {
		case <-f.Ok():
		case _ = <-f.Err(): // counted: the benchmark reports how many failed, not why
			failed++
		case <-ctx.Done():
			return failed + 1
		}
	}
	return failed
}

// ficusRun is one drain of a slot by the real ficus binary.
type ficusRun struct {
	StreamFull time.Duration // all N events in the stream
	Confirmed  time.Duration // and the slot confirmed past the last commit
	CPU        time.Duration // ficus's user+system CPU (embedded NATS included) until StreamFull
	js         jetstream.JetStream
	nc         *nats.Conn
	stop       func() error
}

// runFicus starts `ficus capture` on slot and waits until the stream holds n
// events and, with confirm, the slot's confirmed_flush_lsn is past the last
// event's commit. The caller must call stop.
func runFicus(ctx context.Context, bin, dir string, pg *testenv.Postgres, slot, publication string,
	mode syncMode, n uint64, confirm bool, profile string) (*ficusRun, error) {
	natsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "ficus-"+mode.Name+".yaml")
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
    - name: bench
      type: postgres
      dsn: %s
      tables: [public.orders]
      slot: %s
      publication: %s
      snapshot: never
`, natsPort, filepath.Join(dir, "nats-ficus-"+mode.Name), mode.yaml(), pg.DSN(), slot, publication)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, fmt.Errorf("write ficus config: %w", err)
	}
	logf, err := os.Create(filepath.Join(dir, "ficus-"+mode.Name+".log"))
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
	began := time.Now()
	if err := cmd.Start(); err != nil {
		_ = logf.Close() // nothing was written to it; the start error is the one to report
		return nil, fmt.Errorf("start ficus: %w", err)
	}
	// exited is closed when the process is gone; waitErr is set before.
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		_ = logf.Close() // the child wrote through its own copy of the descriptor
		close(exited)
	}()
	r := &ficusRun{}
	r.stop = func() error {
		if r.nc != nil {
			r.nc.Close()
		}
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
			return waitErr
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			return errors.New("ficus did not stop within 30s")
		}
	}
	fail := func(err error) (*ficusRun, error) {
		return nil, errors.Join(err, r.stop())
	}
	natsURL, err := ficusNATSURL(natsPort, filepath.Join(dir, "nats-ficus-"+mode.Name))
	if err == nil {
		r.nc, err = connectRetry(ctx, natsURL, exited)
	}
	if err != nil {
		return fail(err)
	}
	if r.js, err = jetstream.New(r.nc); err != nil {
		return fail(fmt.Errorf("jetstream: %w", err))
	}
	stream := sink.StreamName("bench")
	var st jetstream.Stream
	for {
		if st == nil {
			st, _ = r.js.Stream(ctx, stream)
		} else if info, err := st.Info(ctx); err == nil && info.State.Msgs >= n {
			r.StreamFull = time.Since(began)
			r.CPU, _ = processCPU(cmd.Process.Pid)
			break
		}
		if err := pause(ctx, exited, 100*time.Millisecond); err != nil {
			return fail(err)
		}
	}
	if !confirm {
		return r, nil
	}
	last, err := st.GetMsg(ctx, n)
	if err != nil {
		return fail(fmt.Errorf("read last event: %w", err))
	}
	var ev struct {
		Source struct {
			CommitLSN string `json:"commit_lsn"`
		} `json:"source"`
	}
	if err := json.Unmarshal(last.Data, &ev); err != nil {
		return fail(fmt.Errorf("decode last event: %w", err))
	}
	commit, err := pglogrepl.ParseLSN(ev.Source.CommitLSN)
	if err != nil {
		return fail(fmt.Errorf("last event commit_lsn: %w", err))
	}
	conn, err := pgx.Connect(ctx, pg.DSN())
	if err != nil {
		return fail(fmt.Errorf("connect postgres: %w", err))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for {
		var confirmed string
		if err := conn.QueryRow(ctx, "SELECT COALESCE(confirmed_flush_lsn::text, '0/0') FROM pg_replication_slots WHERE slot_name = $1",
			slot).Scan(&confirmed); err != nil {
			return fail(fmt.Errorf("read slot %s: %w", slot, err))
		}
		// The slot confirms a transaction's end, which lies past its commit record's start.
		if c, err := pglogrepl.ParseLSN(confirmed); err == nil && c > commit {
			r.Confirmed = time.Since(began)
			return r, nil
		}
		if err := pause(ctx, exited, 100*time.Millisecond); err != nil {
			return fail(err)
		}
	}
}

func pause(ctx context.Context, exited <-chan struct{}, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-exited:
		return errors.New("ficus exited early (see its log in the work dir)")
	case <-time.After(d):
		return nil
	}
}

// ficusNATSURL is the URL, with its credentials, of the embedded NATS of a
// ficus the bench runs (what `ficus nats-url` prints for its config).
func ficusNATSURL(port int, storeDir string) (string, error) {
	return bus.EmbeddedURL(bus.EmbeddedConfig{Listen: fmt.Sprintf("127.0.0.1:%d", port), StoreDir: storeDir})
}

func connectRetry(ctx context.Context, url string, exited <-chan struct{}) (*nats.Conn, error) {
	for {
		nc, err := nats.Connect(url, nats.Name("ficusbench"))
		if err == nil {
			return nc, nil
		}
		if err := pause(ctx, exited, 50*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// selfCPU is this process's user+system CPU so far; during (b) the process
// does nothing but publish and run the embedded server.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// processCPU reads a child's user+system CPU from /proc (Linux).
func processCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 of the whole line, in clock ticks (100 per second).
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}
