// Package host runs and supervises ficus plugins: one child process per
// configured plugin, started with hashicorp/go-plugin in gRPC mode. Calls carry
// whole batches and have a timeout; a plugin that crashes, hangs or errors is
// restarted with backoff and the batch retried; after MaxFailures failures in a
// row the plugin is failed for good (metric, health check, log) and every
// call returns that error, so its source or route stops visibly instead of
// being skipped.
package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"

	"github.com/ficus-migrate/ficus/internal/backoff"
	"github.com/ficus-migrate/ficus/plugins/internal/wire"
)

// Defaults used when the corresponding Config field is zero.
const (
	DefaultCallTimeout  = 10 * time.Second
	DefaultStartTimeout = 10 * time.Second
	DefaultMaxFailures  = 5
	DefaultMinBackoff   = 100 * time.Millisecond
	DefaultMaxBackoff   = 5 * time.Second
)

// Config configures one plugin.
type Config struct {
	Name string
	// Path of the executable, relative to the working directory unless
	// absolute (a bare name too: $PATH is never searched); resolved once, by
	// New. Args and Env are added to its command line and to the
	// environment it inherits.
	Path string
	Args []string
	Env  map[string]string
	// SHA256, when set (hex), is compared with the executable before every
	// start; a mismatch refuses to run it. The file checked is the file run
	// (see executable).
	SHA256 string
	// CallTimeout bounds one call (one batch) [10s]; StartTimeout bounds the
	// start and handshake [10s].
	CallTimeout, StartTimeout time.Duration
	// MaxFailures is the number of failed attempts in a row after which the
	// plugin is failed for good [5].
	MaxFailures int
	// MinBackoff and MaxBackoff bound the wait before a retry, doubling from
	// one to the other [100ms, 5s].
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
	Metrics                *Metrics // optional; shared by all plugins
}

// Plugin is one supervised plugin. It is safe for concurrent use.
type Plugin struct {
	cfg  Config
	path string // cfg.Path made absolute
	log  *slog.Logger
	met  metricsFor
	// beforeExec, if set, runs between the check of the file and the start
	// of the process (tests swap the file there).
	beforeExec func()

	// startMu serializes starts: concurrent callers wait for one start
	// rather than each launching a process. mu is only held briefly, so
	// Err (/readyz) never waits for a start.
	startMu  sync.Mutex
	mu       sync.Mutex
	inst     *instance // nil when not running
	failures int       // failed attempts in a row
	failed   error     // set once for good
}

// instance is one running process.
type instance struct {
	client *plugin.Client
	tr     *wire.TransformerClient
	cmp    *wire.ComparatorClient
	rows   *wire.RowComparatorClient
}

// ErrFailed wraps the error of a plugin that failed for good.
var ErrFailed = errors.New("plugin failed")

// ErrUnimplemented is wrapped by the error of a call to a service the
// plugin does not serve.
var ErrUnimplemented = wire.ErrUnimplemented

// New checks cfg; it does not start the process (Start does).
func New(cfg Config) (*Plugin, error) {
	if cfg.Name == "" || cfg.Path == "" {
		return nil, errors.New("plugin: name and path are required")
	}
	if cfg.SHA256 != "" {
		if b, err := hex.DecodeString(cfg.SHA256); err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("plugin %s: sha256 must be 64 hex digits", cfg.Name)
		}
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.MaxFailures <= 0 {
		cfg.MaxFailures = DefaultMaxFailures
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.MinBackoff)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	path, err := resolvePath(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", cfg.Name, err)
	}
	p := &Plugin{cfg: cfg, path: path, log: cfg.Logger.With("component", "plugin", "plugin", cfg.Name)}
	p.met = cfg.Metrics.forPlugin(cfg.Name)
	return p, nil
}

// Name is the configured name.
func (p *Plugin) Name() string { return p.cfg.Name }

// Start starts the process now, so that a wrong checksum, a missing file or
// a protocol mismatch shows at startup. Such errors are permanent: the
// plugin is failed at once.
func (p *Plugin) Start(ctx context.Context) error {
	_, err := p.instance(ctx)
	return err
}

// Err is nil while the plugin is usable and the failure once it failed for
// good (for /readyz).
func (p *Plugin) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failed
}

// Close stops the process.
func (p *Plugin) Close() {
	p.mu.Lock()
	inst := p.inst
	p.inst = nil
	p.mu.Unlock()
	if inst != nil {
		inst.client.Kill()
	}
	p.met.up.Set(0)
}

// call runs fn against a live instance, restarting and retrying until it
// succeeds, ctx ends or the plugin fails for good.
func (p *Plugin) call(ctx context.Context, method string, fn func(context.Context, *instance) error) error {
	for {
		inst, err := p.instance(ctx)
		if err != nil {
			return err
		}
		start := time.Now()
		cctx, cancel := context.WithTimeout(ctx, p.cfg.CallTimeout)
		err = fn(cctx, inst)
		timedOut := cctx.Err() != nil && ctx.Err() == nil
		cancel()
		p.met.duration.Observe(time.Since(start).Seconds())
		if err == nil {
			p.succeeded()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, wire.ErrUnimplemented) {
			return p.fail(fmt.Errorf("plugin %s: %s: %w", p.cfg.Name, method, err))
		}
		var perr *wire.PluginError
		switch {
		case timedOut:
			err = fmt.Errorf("%s timed out after %s", method, p.cfg.CallTimeout)
		case errors.As(err, &perr):
			err = fmt.Errorf("%s: %w", method, err)
		default:
			err = fmt.Errorf("%s: process crashed or unreachable: %w", method, err)
		}
		// Only a plugin error leaves the process healthy; a crash, a broken
		// connection or a hang get a fresh process.
		if perr == nil || timedOut {
			p.stop(inst)
		}
		wait, ferr := p.failedAttempt(err)
		if ferr != nil {
			return ferr
		}
		p.log.Warn("plugin call failed; retrying the batch", "method", method, "err", err, "retry_in", wait.String())
		if err := backoff.Wait(ctx, wait); err != nil {
			return err
		}
	}
}

// instance returns the running instance, starting one if needed.
func (p *Plugin) instance(ctx context.Context) (*instance, error) {
	for {
		if inst, ok, err := p.current(); ok {
			return inst, err
		}
		p.startMu.Lock()
		if inst, ok, err := p.current(); ok { // started by another caller meanwhile
			p.startMu.Unlock()
			return inst, err
		}
		p.mu.Lock()
		old := p.inst
		p.inst = nil
		p.mu.Unlock()
		if old != nil {
			// The process died between calls (a crash, a kill): replacing
			// it is a restart as much as one after a failed call.
			old.client.Kill()
			p.met.up.Set(0)
			p.met.restarts.Inc()
		}
		inst, err := p.launch()
		if err == nil {
			p.mu.Lock()
			p.inst = inst
			p.mu.Unlock()
			p.met.up.Set(1)
		}
		p.startMu.Unlock()
		if err == nil {
			return inst, nil
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return nil, p.fail(err)
		}
		wait, ferr := p.failedAttempt(err)
		if ferr != nil {
			return nil, ferr
		}
		p.log.Warn("plugin did not start; retrying", "err", err, "retry_in", wait.String())
		if err := backoff.Wait(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// current returns the live instance or the final failure; ok is false when
// a process must be started.
func (p *Plugin) current() (*instance, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failed != nil {
		return nil, true, p.failed
	}
	if p.inst != nil && !p.inst.client.Exited() {
		return p.inst, true, nil
	}
	return nil, false, nil
}

// permanentError is a start failure that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func (p *Plugin) launch() (*instance, error) {
	exe, err := openExecutable(p.path, p.cfg.Path, p.cfg.SHA256)
	if err != nil {
		return nil, &permanentError{fmt.Errorf("plugin %s: %w", p.cfg.Name, err)}
	}
	defer exe.Close() // the child has its own copy of the descriptor once started
	if p.beforeExec != nil {
		p.beforeExec()
	}
	// A write into the checked file is not permanent by itself (a touch, an
	// upgrade in progress): the retry checks the sum again.
	if err := p.unchanged(exe); err != nil {
		return nil, err
	}
	cmd, err := exe.command(p.cfg.Args)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", p.cfg.Name, err)
	}
	// The configured variables come after the inherited ones so they win.
	cmd.Env = os.Environ()
	for k, v := range p.cfg.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr := &lineLogger{log: p.log}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake(wire.ProtocolVersion),
		VersionedPlugins: map[int]plugin.PluginSet{wire.ProtocolVersion: wire.Set(wire.Impls{})},
		Cmd:              cmd,
		SkipHostEnv:      true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		GRPCDialOptions:  wire.DialOptions(),
		StartTimeout:     p.cfg.StartTimeout,
		Stderr:           stderr,
		SyncStderr:       io.Discard,
		SyncStdout:       io.Discard,
		Logger: hclog.New(&hclog.LoggerOptions{
			Name: "plugin." + p.cfg.Name, Level: hclog.Error, Output: stderr,
		}),
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		if strings.Contains(err.Error(), "incompatible API version") {
			return nil, &permanentError{fmt.Errorf("plugin %s: protocol version mismatch: ficus speaks version %d: %w",
				p.cfg.Name, wire.ProtocolVersion, err)}
		}
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
			// The path is named: the error itself may only say /proc/self/fd/3.
			return nil, &permanentError{fmt.Errorf("plugin %s: start %s: %w", p.cfg.Name, p.path, err)}
		}
		return nil, fmt.Errorf("plugin %s: start %s: %w", p.cfg.Name, p.path, err)
	}
	// The window between the check above and execve is short but not empty.
	if err := p.unchanged(exe); err != nil {
		client.Kill()
		return nil, err
	}
	inst := &instance{client: client}
	for kind, dst := range map[string]any{wire.KindTransformer: &inst.tr, wire.KindComparator: &inst.cmp,
		wire.KindRowComparator: &inst.rows} {
		raw, err := rpc.Dispense(kind)
		if err != nil {
			client.Kill()
			return nil, fmt.Errorf("plugin %s: dispense %s: %w", p.cfg.Name, kind, err)
		}
		switch d := dst.(type) {
		case **wire.TransformerClient:
			*d = raw.(*wire.TransformerClient)
		case **wire.ComparatorClient:
			*d = raw.(*wire.ComparatorClient)
		case **wire.RowComparatorClient:
			*d = raw.(*wire.RowComparatorClient)
		}
	}
	p.met.starts.Inc()
	p.log.Info("plugin started", "path", p.path, "pid", client.ReattachConfig().Pid)
	return inst, nil
}

// unchanged is executable.unchanged for a checked file: without a sha256
// nothing was verified, and a file being replaced is the operator's doing.
func (p *Plugin) unchanged(exe *executable) error {
	if p.cfg.SHA256 == "" {
		return nil
	}
	if err := exe.unchanged(); err != nil {
		return fmt.Errorf("plugin %s: %w", p.cfg.Name, err)
	}
	return nil
}

// stop kills inst (if still current) so the next call starts a fresh one. A
// hung process gets SIGKILL right away: a graceful stop would wait for it.
func (p *Plugin) stop(inst *instance) {
	// Calls that failed together on one process stop it once: only the
	// first counts a restart.
	p.mu.Lock()
	current := p.inst == inst
	if current {
		p.inst = nil
		p.met.up.Set(0)
	}
	p.mu.Unlock()
	if rc := inst.client.ReattachConfig(); rc != nil && rc.Pid > 0 {
		if proc, err := os.FindProcess(rc.Pid); err == nil {
			_ = proc.Kill()
		}
	}
	inst.client.Kill()
	if current {
		p.met.restarts.Inc()
	}
}

func (p *Plugin) succeeded() {
	p.mu.Lock()
	p.failures = 0
	p.mu.Unlock()
}

// failedAttempt counts a failure and returns the backoff before the next
// attempt, or the final error once MaxFailures is reached.
func (p *Plugin) failedAttempt(err error) (time.Duration, error) {
	p.mu.Lock()
	p.failures++
	n := p.failures
	p.mu.Unlock()
	p.met.failures.Inc()
	if n >= p.cfg.MaxFailures {
		return 0, p.fail(fmt.Errorf("%w: %s: %d attempts in a row failed, the last: %w", ErrFailed, p.cfg.Name, n, err))
	}
	// The count of failures in a row spans calls and starts, so the step
	// is taken from it rather than from a per-loop Backoff.
	return backoff.Policy{Initial: p.cfg.MinBackoff, Max: p.cfg.MaxBackoff}.Delay(n), nil
}

// fail puts the plugin in its failed state for good and returns the error.
func (p *Plugin) fail(err error) error {
	if !errors.Is(err, ErrFailed) {
		err = fmt.Errorf("%w: %w", ErrFailed, err)
	}
	p.mu.Lock()
	if p.failed != nil {
		err = p.failed
		p.mu.Unlock()
		return err
	}
	p.failed = err
	inst := p.inst
	p.inst = nil
	p.mu.Unlock()
	if inst != nil {
		inst.client.Kill()
	}
	p.met.up.Set(0)
	p.met.failed.Set(1)
	p.log.Error("plugin failed; its users stop until ficus is restarted", "err", err)
	return err
}

// lineLogger turns the plugin's stderr into log records, one per line.
type lineLogger struct {
	log *slog.Logger
	mu  sync.Mutex
	buf []byte
}

func (l *lineLogger) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		// go-plugin's own debug records (JSON on the plugin's stderr) are
		// noise at ficus's level.
		if line := strings.TrimSpace(string(l.buf[:i])); line != "" && !strings.Contains(line, `"@level":"debug"`) &&
			!strings.Contains(line, `"@level":"trace"`) {
			l.log.Info("plugin output", "line", line)
		}
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 64<<10 {
		l.log.Info("plugin output", "line", string(l.buf))
		l.buf = l.buf[:0]
	}
	return len(b), nil
}

// Pid is the process id of the running plugin, 0 when none runs.
func (p *Plugin) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inst == nil {
		return 0
	}
	if rc := p.inst.client.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}
