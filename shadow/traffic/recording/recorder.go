package recording

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/ficus-migrate/ficus/internal/bus"
	"github.com/ficus-migrate/ficus/shadow/redact"
	"github.com/ficus-migrate/ficus/shadow/traffic/mirror"
)

// Route is the recording configuration of one proxy route.
type Route struct {
	// Name is the proxy route name (upstream.Target.Route).
	Name string
	// Paths recovers the client's path from the served side's (the
	// route's new URL and prefixes, the proxy's legacy URL).
	Paths mirror.Paths
	// Sample is the share of requests recorded, 0..1.
	Sample float64
	// Methods are the methods recorded.
	Methods []string
	// MaxBodyBytes caps each recorded body [256 KiB].
	MaxBodyBytes int64
	// MaxPerSecond caps the exchanges recorded each second, with bursts of
	// one second's worth; beyond it exchanges are not recorded and counted
	// as limited (0: no cap).
	MaxPerSecond float64
	// StickyKind ("header", "cookie", "query" or "") and StickyName say
	// where the route's sticky value is: its keyed hash is recorded.
	StickyKind, StickyName string
}

// Config configures a Recorder.
type Config struct {
	// Conn is the NATS connection (required).
	Conn *nats.Conn
	// Routes lists the recorded routes; others pass through untouched.
	Routes []Route
	// MaxAge and MaxBytes are the stream's limits (0: none).
	MaxAge   time.Duration
	MaxBytes int64
	// Redact adds to the built-in rules; RedactKey hashes the secrets
	// (required: the shadow records' key, so replay can compare).
	Redact    redact.Rules
	RedactKey []byte
	// Pending bounds the exchanges waiting to be published [4096] and
	// PendingBytes the bytes they hold [64 MiB]; more are dropped and
	// counted, so a slow NATS never holds up a client.
	Pending      int
	PendingBytes int64
	// PublishTimeout bounds one publish [5s].
	PublishTimeout time.Duration
	// Logger [slog.Default()].
	Logger *slog.Logger
}

// Recorder records sampled exchanges of its routes to FICUS_TRAFFIC. It is
// an upstream hook (see hook.go); Run publishes. Safe for concurrent use.
type Recorder struct {
	cfg      Config
	js       jetstream.JetStream
	red      *redact.Redactor
	log      *slog.Logger
	routes   map[string]*routeState // immutable after New
	queue    chan *item
	held     atomic.Int64
	seq      atomic.Uint64
	instance string
	streamOK atomic.Bool
	stats    struct{ written, dropped, failed, limited atomic.Uint64 }
}

// newLimiter admits perSecond exchanges a second, in bursts of one
// second's worth (at least one).
func newLimiter(perSecond float64) *rate.Limiter {
	return rate.NewLimiter(rate.Limit(perSecond), max(1, int(math.Ceil(perSecond))))
}

type routeState struct {
	cfg     Route
	methods map[string]bool
	limit   *rate.Limiter // nil: no cap
}

// item is one exchange waiting to be redacted and published; its bodies
// are raw.
type item struct {
	route    *routeState
	time     time.Time
	method   string
	url      url.URL // outgoing URL of the serving side
	header   http.Header
	served   string
	status   int
	respH    http.Header
	respBody []byte
	respSize int64
	respSum  []byte // nil: respBody is the whole body (hashed when published)
	reqBody  []byte
	reqWhole bool // reqBody is the whole request body
	latency  time.Duration
	seq      uint64
	bytes    int64
}

// New validates cfg, creates or updates FICUS_TRAFFIC when NATS answers
// (else Run keeps trying) and returns a Recorder.
func New(ctx context.Context, cfg Config) (*Recorder, error) {
	if cfg.Conn == nil {
		return nil, errors.New("recording: a NATS connection is required")
	}
	if len(cfg.RedactKey) == 0 {
		return nil, errors.New("recording: a redaction key is required")
	}
	if cfg.Pending <= 0 {
		cfg.Pending = 4096
	}
	if cfg.PendingBytes <= 0 {
		cfg.PendingBytes = 64 << 20
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	red, err := redact.New(redact.Config{Rules: cfg.Redact, Key: cfg.RedactKey})
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	js, err := jetstream.New(cfg.Conn)
	if err != nil {
		return nil, fmt.Errorf("recording: jetstream: %w", err)
	}
	r := &Recorder{
		cfg: cfg, js: js, red: red,
		log:      cfg.Logger.With("component", "recording"),
		routes:   make(map[string]*routeState, len(cfg.Routes)),
		queue:    make(chan *item, cfg.Pending),
		instance: fmt.Sprintf("%016x", rand.Uint64()),
	}
	for _, rt := range cfg.Routes {
		if _, dup := r.routes[rt.Name]; dup {
			return nil, fmt.Errorf("recording: route %q given twice", rt.Name)
		}
		if rt.Paths.Legacy == nil || rt.Paths.New == nil {
			return nil, fmt.Errorf("recording: route %q: legacy and new URLs are required", rt.Name)
		}
		if rt.MaxBodyBytes <= 0 {
			rt.MaxBodyBytes = 256 << 10
		}
		if rt.MaxPerSecond < 0 {
			return nil, fmt.Errorf("recording: route %q: max_per_second %v is negative", rt.Name, rt.MaxPerSecond)
		}
		rs := &routeState{cfg: rt, methods: map[string]bool{}}
		if rt.MaxPerSecond > 0 {
			rs.limit = newLimiter(rt.MaxPerSecond)
		}
		for _, m := range rt.Methods {
			rs.methods[m] = true
		}
		r.routes[rt.Name] = rs
	}
	if err := EnsureStream(ctx, js, cfg.MaxAge, cfg.MaxBytes); err != nil {
		r.log.Warn("traffic stream not available yet; retrying in the background", "stream", StreamName, "err", err)
	} else {
		r.streamOK.Store(true)
	}
	return r, nil
}

// enqueue queues it unless the queue is full or its bytes do not fit;
// it never blocks.
func (r *Recorder) enqueue(it *item) {
	it.bytes = 1<<10 + int64(cap(it.respBody)+cap(it.reqBody)) + headerBytes(it.header) + headerBytes(it.respH)
	for {
		cur := r.held.Load()
		if cur+it.bytes > r.cfg.PendingBytes {
			r.stats.dropped.Add(1)
			return
		}
		if r.held.CompareAndSwap(cur, cur+it.bytes) {
			break
		}
	}
	it.seq = r.seq.Add(1)
	select {
	case r.queue <- it:
	default:
		r.held.Add(-it.bytes)
		r.stats.dropped.Add(1)
	}
}

func headerBytes(h http.Header) int64 {
	var n int64
	for k, vv := range h {
		n += int64(len(k)) + 64
		for _, v := range vv {
			n += int64(len(v)) + 16
		}
	}
	return n
}

// Run publishes queued exchanges until ctx ends, then what is still
// queued (each publish bounded by PublishTimeout), and returns.
func (r *Recorder) Run(ctx context.Context) error {
	return bus.PublishLoop[*item]{
		Queue: r.queue, Ready: &r.streamOK,
		Ensure:  func(ctx context.Context) error { return EnsureStream(ctx, r.js, r.cfg.MaxAge, r.cfg.MaxBytes) },
		OnReady: func() { r.log.Info("traffic stream available", "stream", StreamName) },
		Publish: r.publish,
	}.Run(ctx)
}

func (r *Recorder) publish(ctx context.Context, it *item) {
	defer r.held.Add(-it.bytes)
	x := r.build(it)
	data, err := json.Marshal(x)
	if err != nil {
		r.stats.failed.Add(1)
		r.log.Warn("cannot encode traffic record", "route", x.Route, "err", err)
		return
	}
	pctx, cancel := context.WithTimeout(ctx, r.cfg.PublishTimeout)
	defer cancel()
	if _, err := r.js.Publish(pctx, Subject(x.Route), data); err != nil {
		r.stats.failed.Add(1)
		r.log.Warn("cannot publish traffic record", "route", x.Route, "err", err)
		return
	}
	r.stats.written.Add(1)
}

// build returns the redacted record of it (see redact.Exchange for the two
// passes); bodies are capped by the tee already, and redacted whole.
func (r *Recorder) build(it *item) Exchange {
	rs := it.route
	if it.respSum == nil {
		sum := sha256.Sum256(it.respBody)
		it.respSum = sum[:]
	}
	x := r.red.Exchange()
	reqCT, respCT := it.header.Get("Content-Type"), it.respH.Get("Content-Type")
	reqH := it.header.Clone()
	delete(reqH, "X-Forwarded-For") // the client's address: personal, and no input of the answer
	reqH = x.Header(reqH)
	respH := x.Header(it.respH)
	client := rs.cfg.Paths.Client(it.served, it.url.Path)
	query := x.Query(it.url.RawQuery)
	reqBody, reqOK := x.Body(reqCT, it.reqBody)
	respBody, respOK := x.Body(respCT, it.respBody)
	path := x.Text(client)
	if it.url.RawQuery != "" || it.url.ForceQuery {
		path += "?" + x.Text(query)
	}
	finishHeader(x, reqH)
	finishHeader(x, respH)
	out := Exchange{
		Time: it.time.UTC(), Instance: r.instance, Seq: it.seq, Route: rs.cfg.Name,
		Method: it.method, Path: path, Served: it.served,
		RequestHeader: reqH,
		RequestBody:   textBody(x.FinishBody(reqBody), !reqOK || !it.reqWhole),
		Answer: Answer{
			Status: it.status, Header: respH,
			Body: textBody(x.FinishBody(respBody), !respOK || it.respSize > int64(len(it.respBody))),
			Size: it.respSize, SHA256: hex.EncodeToString(it.respSum),
			LatencyMS: float64(it.latency.Microseconds()) / 1000,
		},
		Redaction: Hashed,
	}
	if v := stickyValue(rs.cfg, it); v != "" {
		out.Sticky = r.red.Mark(v)
	}
	return out
}

func finishHeader(x *redact.Exchange, h http.Header) {
	for _, vs := range h {
		for i, v := range vs {
			vs[i] = x.Text(v)
		}
	}
}

// stickyValue is the route's sticky value in the request, raw.
func stickyValue(rt Route, it *item) string {
	switch rt.StickyKind {
	case "header":
		return it.header.Get(rt.StickyName)
	case "cookie":
		req := http.Request{Header: it.header}
		if c, err := req.Cookie(rt.StickyName); err == nil {
			return c.Value
		}
	case "query":
		return it.url.Query().Get(rt.StickyName)
	}
	return ""
}

// Stats are the recorder's counters.
type Stats struct {
	Written, Dropped, Failed uint64
	// Limited counts sampled exchanges left out by max_per_second.
	Limited uint64
}

// Stats returns the counters so far.
func (r *Recorder) Stats() Stats {
	return Stats{Written: r.stats.written.Load(), Dropped: r.stats.dropped.Load(), Failed: r.stats.failed.Load(),
		Limited: r.stats.limited.Load()}
}

// Pending returns the exchanges queued and the bytes they hold.
func (r *Recorder) Pending() (int, int64) { return len(r.queue), r.held.Load() }

// Routes returns the names of the recorded routes.
func (r *Recorder) Routes() []string {
	out := make([]string, 0, len(r.routes))
	for n := range r.routes {
		out = append(out, n)
	}
	return out
}
