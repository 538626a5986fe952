// Package mirror is the shadow-traffic hook of the proxy: it tees bounded
// copies of a sampled request and of the answer the client receives, and
// afterwards, on a bounded worker pool, sends the same request to the side
// that did not serve it, compares both answers, learns the noise and
// records real mismatches. Nothing it does can change what the client gets.
package mirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ficus-migrate/ficus/proxy/upstream"
	"github.com/ficus-migrate/ficus/shadow/traffic/diff"
	"github.com/ficus-migrate/ficus/shadow/traffic/noise"
	"github.com/ficus-migrate/ficus/shadow/traffic/record"
)

// HeaderName marks mirrored requests; requests that already carry it are
// never mirrored again, so two ficus instances cannot loop.
const HeaderName = "Ficus-Shadow"

// Recorder receives real mismatches (shadow/record.Recorder).
type Recorder interface {
	Record(in record.Input)
}

// Route is the shadow configuration of one proxy route.
type Route struct {
	// Name is the proxy route name (upstream.Target.Route).
	Name string
	// New is the route's new base URL; StripPrefix and AddPrefix rewrite
	// paths for it exactly as the proxy does.
	New                    *url.URL
	StripPrefix, AddPrefix string
	// Sample is the share of requests mirrored, 0..1.
	Sample float64
	// UnsafeMethods allows mirroring methods other than GET, HEAD, OPTIONS.
	UnsafeMethods bool
	// MaxBodyBytes caps the request and response bytes kept per side [1 MiB].
	MaxBodyBytes int64
	// Timeout bounds each mirrored exchange, body included [2s].
	Timeout time.Duration
	// Rules are the comparison rules.
	Rules diff.Rules
	// SecondLegacy, when set, is asked alongside legacy on every mirror to
	// learn the noise; otherwise NoiseSample of mirrors go to legacy twice.
	SecondLegacy *url.URL
	NoiseSample  float64
	// Noise tunes the noise detector.
	Noise noise.Config
	// Comparator, when set, normalizes or judges every pair in batches
	// before the diff (a plugin); nil diffs the answers as they are.
	Comparator Comparator
}

// Config configures a Mirror.
type Config struct {
	// Legacy is the proxy's legacy base URL (required).
	Legacy *url.URL
	// Routes lists the shadowed routes; others are passed through untouched.
	Routes []Route
	// Workers sending mirrored requests [64]; Queue is the number of jobs
	// that may wait for them [10000]. A full queue drops and counts.
	Workers, Queue int
	// QueueBytes bounds the memory the jobs hold from the moment they are
	// queued until they are compared [64 MiB]: the request body, the
	// served answer's body and headers, a fixed overhead per job, and the
	// shadow answers kept for a pipelined batch or a comparator plugin. A
	// job that does not fit is dropped and counted, like one that finds the
	// queue full: a count of jobs alone let 600 queued 1 MiB answers take
	// the heap far past a container's memory limit.
	QueueBytes int64
	// Recorder receives mismatches; nil records nothing.
	Recorder Recorder
	// Transport sends mirrored requests [plain-http ones over raw keep-alive
	// connections, others over a private http.Transport].
	Transport http.RoundTripper
	// TallyEvery is how often each route's tally is handed to the Recorder
	// when it changed and the Recorder keeps tallies (TallyRecorder)
	// [DefaultTallyEvery].
	TallyEvery time.Duration
	// Logger [slog.Default()]; Registerer receives the metrics [private].
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Mirror implements upstream.Hook. It is safe for concurrent use.
type Mirror struct {
	cfg      Config
	log      *slog.Logger
	routes   map[string]*routeState // immutable after New
	jobs     chan *job
	client   *http.Client
	raw      *rawClient // nil when cfg.Transport was given: it sends everything
	metrics  *metrics
	instance string
	started  time.Time
	waiting  atomic.Int64 // jobs queued or in a forming batch
	// held is the bytes the jobs hold, from enqueue until done (see
	// Config.QueueBytes and jobBytes).
	held atomic.Int64
	// bufs holds *[copyBufSize]byte for reading shadow answers: a fresh
	// buffer per mirrored request was most of the mirror's garbage.
	bufs sync.Pool
}

const copyBufSize = 32 << 10

var (
	_ upstream.Tapper = (*Mirror)(nil)
	_ upstream.Scoped = (*Mirror)(nil)
)

// New validates cfg and builds the per-route comparators and detectors.
func New(cfg Config) (*Mirror, error) {
	if cfg.Legacy == nil {
		return nil, errors.New("shadow mirror: legacy URL is required")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 64
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 10000
	}
	if cfg.QueueBytes <= 0 {
		cfg.QueueBytes = 64 << 20
	}
	if cfg.TallyEvery <= 0 {
		cfg.TallyEvery = DefaultTallyEvery
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	m := &Mirror{
		log:      cfg.Logger.With("component", "shadow"),
		routes:   make(map[string]*routeState, len(cfg.Routes)),
		jobs:     make(chan *job, cfg.Queue),
		instance: fmt.Sprintf("%016x", rand.Uint64()),
		started:  time.Now().UTC(),
	}
	met, err := newMetrics(cfg.Registerer, func() float64 { return float64(m.held.Load()) })
	if err != nil {
		return nil, err
	}
	m.metrics = met
	if cfg.Transport == nil {
		cfg.Transport = newTransport()
		m.raw = newRawClient(cfg.Logger, m.log, func(reason string) { met.discarded.WithLabelValues(reason).Inc() })
	}
	m.cfg = cfg
	m.client = &http.Client{Transport: cfg.Transport, CheckRedirect: noRedirects}
	for _, r := range cfg.Routes {
		if _, dup := m.routes[r.Name]; dup {
			return nil, fmt.Errorf("shadow mirror: route %q given twice", r.Name)
		}
		rs, err := newRouteState(r, met)
		if err != nil {
			return nil, fmt.Errorf("shadow mirror: route %q: %w", r.Name, err)
		}
		m.routes[r.Name] = rs
		if r.UnsafeMethods {
			m.log.Warn("shadow mirrors unsafe methods: the shadow side receives writes", "route", r.Name)
		}
	}
	return m, nil
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
}

// RoundTrip is the upstream.Hook: the primary exchange goes through next
// untouched; for sampled requests of shadowed routes the bodies are teed.
func (m *Mirror) RoundTrip(t upstream.Target, req *http.Request, next http.RoundTripper) (*http.Response, error) {
	rs := m.routes[t.Route]
	if rs == nil || !rs.wants(req) {
		return next.RoundTrip(req)
	}
	start := time.Now()
	var rt *reqTee
	if req.Body != nil && req.Body != http.NoBody {
		rt = &reqTee{rc: req.Body, max: rs.cfg.MaxBodyBytes}
		req.Body = rt
	}
	resp, err := next.RoundTrip(req)
	if err != nil || resp.StatusCode == http.StatusSwitchingProtocols {
		// No primary answer to compare with (or a tunnel, whose body must
		// stay the raw connection).
		return resp, err
	}
	served := sideLegacy
	if t.Side == sideNew {
		served = sideNew
	}
	// Captured now: the transport may reuse nothing of req after the body
	// is done, but the proxy's buffers may be, so copy what the job needs.
	j := &job{
		route:  rs,
		method: req.Method,
		url:    *req.URL,
		header: req.Header.Clone(),
		served: served,
		status: resp.StatusCode,
		respH:  resp.Header.Clone(),
	}
	size := resp.ContentLength
	if upstream.BodyForbidden(req.Method, resp.StatusCode) {
		size = 0 // a HEAD answer announces the length of a body it does not carry
	}
	resp.Body = newRespTee(resp.Body, rs.cfg.MaxBodyBytes, size, func(tee *respTee) {
		if !tee.eof {
			// The client did not read the whole answer: there is nothing
			// sound to compare it with.
			return
		}
		j.latency = time.Since(start)
		j.primary = diff.Answer{
			Status: j.status, Header: j.respH, ContentType: j.respH.Get("Content-Type"),
			Body: tee.buf, Truncated: tee.n > int64(len(tee.buf)), Size: tee.n, Hash: tee.sum(),
		}
		if rt != nil {
			body, complete := rt.copyOut()
			if !complete {
				rs.metrics.errors.Inc()
				m.log.Debug("request body too large or not fully sent; not mirrored", "route", rs.cfg.Name)
				return
			}
			j.body = body
		}
		m.enqueue(j)
	})
	return resp, nil
}

func (m *Mirror) enqueue(j *job) {
	// waiting counts the jobs in the queue and in a forming batch, so Queue
	// bounds both; the channel (of capacity Queue) then never blocks.
	if m.waiting.Add(1) > int64(m.cfg.Queue) {
		m.waiting.Add(-1)
		m.drop(j.route, dropQueueFull)
		return
	}
	if !m.hold(j, jobBytes(j)) {
		m.waiting.Add(-1)
		m.drop(j.route, dropBytes)
		return
	}
	m.jobs <- j
	j.route.metrics.mirrored.Inc()
	j.route.stats.mirrored.Add(1)
}

// jobOverhead is what a job holds besides its bodies and headers: the job
// and its URL, the answer's fixed fields, the maps' buckets. Rounded up:
// the budget is a bound, better overstated than exceeded.
const jobOverhead = 1 << 10

// jobBytes is what j holds while it waits: capacities, not lengths, since
// a buffer's spare capacity is on the heap too.
func jobBytes(j *job) int64 {
	return jobOverhead + int64(cap(j.body)+cap(j.primary.Body)+len(j.url.Path)+len(j.url.RawQuery)) +
		headerBytes(j.header) + headerBytes(j.respH) // j.primary.Header is j.respH
}

// answerBytes is what a shadow answer kept past its exchange holds.
func answerBytes(a diff.Answer) int64 {
	return int64(cap(a.Body)) + headerBytes(a.Header)
}

// headerBytes estimates a header's heap: its strings plus a map entry and
// a slice per key and a string header per value.
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

// hold adds n bytes to j's share of the budget, unless that would take the
// total past Config.QueueBytes. A compare-and-swap rather than add-and-undo:
// the total must never read above the budget, even for a moment.
func (m *Mirror) hold(j *job, n int64) bool {
	for {
		cur := m.held.Load()
		if cur+n > m.cfg.QueueBytes {
			return false
		}
		if m.held.CompareAndSwap(cur, cur+n) {
			j.bytes += n
			return true
		}
	}
}

// unhold gives back n of the bytes j holds.
func (m *Mirror) unhold(j *job, n int64) {
	m.held.Add(-n)
	j.bytes -= n
}

// done gives back what j held: it is compared, failed or dropped. Every
// job that enqueue accepted reaches done exactly once, unless the mirror
// stops first.
func (m *Mirror) done(j *job) { m.unhold(j, j.bytes) }

// Reasons a job is dropped (the reason label of ficus_shadow_dropped_total).
const (
	dropQueueFull  = "queue_full"  // Config.Queue jobs were waiting
	dropBytes      = "bytes"       // Config.QueueBytes were held
	dropPluginFull = "plugin_full" // the comparator plugin's queue was full
)

func (m *Mirror) drop(rs *routeState, reason string) {
	rs.metrics.dropped[reason].Inc()
	rs.stats.dropped.Add(1)
}

// Run starts the workers and blocks until ctx ends; jobs still queued
// then are discarded, and Run returns once every worker has stopped.
func (m *Mirror) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	m.runPlugins(ctx, &wg)
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.publishTallies(ctx)
	}()
	batches := make(chan []*job)
	go m.collect(ctx, batches)
	for range m.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pipe []pipeJob
			for batch := range batches {
				m.waiting.Add(-int64(len(batch)))
				pipe = m.processBatch(ctx, batch, pipe)
			}
		}()
	}
	wg.Wait()
	if tr, ok := m.cfg.Transport.(interface{ CloseIdleConnections() }); ok {
		tr.CloseIdleConnections()
	}
	if m.raw != nil {
		m.raw.close()
	}
	return nil
}

const (
	sideLegacy = "legacy"
	sideNew    = "new"
)

// wants reports whether req is to be mirrored; it allocates nothing.
func (rs *routeState) wants(req *http.Request) bool {
	if !rs.cfg.UnsafeMethods {
		switch req.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			return false
		}
	}
	if _, loop := req.Header[HeaderName]; loop {
		return false
	}
	if _, up := req.Header["Upgrade"]; up {
		return false
	}
	return rs.cfg.Sample >= 1 || (rs.cfg.Sample > 0 && rand.Float64() < rs.cfg.Sample)
}

// clientPath recovers the path the client asked for (see Paths.Client).
func (rs *routeState) clientPath(served string, legacy *url.URL, out string) string {
	return rs.paths(legacy).Client(served, out)
}

// newPath is the path the proxy would send to the new side.
func (rs *routeState) newPath(client string) string {
	return rs.paths(nil).ForNew(client)
}

func (rs *routeState) paths(legacy *url.URL) Paths {
	return Paths{Legacy: legacy, New: rs.cfg.New, StripPrefix: rs.cfg.StripPrefix, AddPrefix: rs.cfg.AddPrefix}
}

func trimBase(p, base string) string {
	base = strings.TrimSuffix(base, "/")
	if base == "" {
		return p
	}
	if rest, ok := strings.CutPrefix(p, base); ok {
		return ensureSlash(rest)
	}
	return p
}

func ensureSlash(p string) string {
	if p == "" || p[0] != '/' {
		return "/" + p
	}
	return p
}

// joinPath joins like httputil's single-joining-slash rule.
func joinPath(base, p string) string {
	switch a, b := strings.HasSuffix(base, "/"), strings.HasPrefix(p, "/"); {
	case base == "":
		return p
	case a && b:
		return base + p[1:]
	case !a && !b:
		return base + "/" + p
	}
	return base + p
}
