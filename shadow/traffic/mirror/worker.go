package mirror

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/ficus-migrate/ficus/shadow/redact"
	"github.com/ficus-migrate/ficus/shadow/traffic/diff"
	"github.com/ficus-migrate/ficus/shadow/traffic/noise"
	"github.com/ficus-migrate/ficus/shadow/traffic/record"
)

// job is one mirrored request with the primary answer the client got.
type job struct {
	route   *routeState
	method  string
	url     url.URL // outgoing URL of the serving side
	header  http.Header
	body    []byte
	served  string
	status  int
	respH   http.Header
	primary diff.Answer
	latency time.Duration
	// bytes is the job's share of Config.QueueBytes (see Mirror.hold).
	bytes int64
}

// routeState is everything the mirror keeps per shadowed route.
type routeState struct {
	cfg     Route
	cmp     *diff.Comparator
	det     *noise.Detector
	metrics routeMetrics
	stats   *routeStats
	// tally counts the comparisons by signature, so that they are judged
	// again with the noise known when the figures are read (Stats, Snapshot).
	tally  *noise.Tally
	plugin *pluginStage // nil without compare.plugin
}

func newRouteState(r Route, met *metrics) (*routeState, error) {
	if r.New == nil {
		return nil, fmt.Errorf("new URL is required")
	}
	if r.MaxBodyBytes <= 0 {
		r.MaxBodyBytes = 1 << 20
	}
	if r.Timeout <= 0 {
		r.Timeout = 2 * time.Second
	}
	cmp, err := diff.Compile(r.Rules)
	if err != nil {
		return nil, fmt.Errorf("compare rules: %w", err)
	}
	rs := &routeState{
		cfg:     r,
		cmp:     cmp,
		det:     noise.New(r.Noise),
		metrics: met.route(r.Name),
		stats:   newRouteStats(),
		tally:   noise.NewTally(0, 0),
	}
	if r.Comparator != nil {
		rs.plugin = newPluginStage(r.Comparator, pluginQueue)
	}
	return rs, nil
}

// process sends the shadow request(s) of one job and handles the outcome.
func (m *Mirror) process(ctx context.Context, j *job) {
	client, shadowSide, shadowURL := m.shadowTarget(j)
	shadow, lat, err := m.send(ctx, j, shadowURL)
	m.compare(ctx, j, client, shadowSide, shadow, lat, err)
}

// shadowTarget is the client's path and the side and URL the job's shadow
// request goes to: the side that did not serve the client.
func (m *Mirror) shadowTarget(j *job) (client, side string, u url.URL) {
	rs := j.route
	client = rs.clientPath(j.served, m.cfg.Legacy, j.url.Path)
	if j.served == sideNew {
		return client, sideLegacy, m.sideURL(rs, sideLegacy, client, j.url.RawQuery)
	}
	return client, sideNew, m.sideURL(rs, sideNew, client, j.url.RawQuery)
}

// compare handles the outcome of a job's shadow exchange; the job is done
// when it returns, or when the comparator plugin has judged it.
func (m *Mirror) compare(ctx context.Context, j *job, client, shadowSide string, shadow diff.Answer, lat time.Duration, err error) {
	rs := j.route
	if err != nil {
		rs.metrics.errors.Inc()
		rs.stats.errors.Add(1)
		m.log.Debug("shadow request failed", "route", rs.cfg.Name, "side", shadowSide, "err", err)
		m.done(j)
		return
	}
	rs.observeLatency(j.served, j.latency)
	rs.observeLatency(shadowSide, lat)

	legacy, newA, legacyLat, newLat := j.primary, shadow, j.latency, lat
	if j.served == sideNew {
		legacy, newA, legacyLat, newLat = shadow, j.primary, lat, j.latency
	}
	m.learnNoise(ctx, j, client, legacy)

	if rs.plugin != nil {
		// The pair waits for the plugin with the shadow answer too: that
		// answer joins the job's share of the budget.
		switch {
		case !m.hold(j, answerBytes(shadow)):
			m.drop(rs, dropBytes)
		case !rs.plugin.submit(pending{j: j, client: client, legacy: legacy, newA: newA, legacyLat: legacyLat, newLat: newLat}):
			m.drop(rs, dropPluginFull)
		default:
			return // runPlugin calls done
		}
		m.done(j)
		return
	}
	m.conclude(j, client, legacy, newA, legacyLat, newLat, rs.cmp.Compare(legacy, newA))
	m.done(j)
}

// conclude counts and records the comparison of one pair.
func (m *Mirror) conclude(j *job, client string, legacy, newA diff.Answer, legacyLat, newLat time.Duration, res diff.Result) {
	rs := j.route
	rs.det.ObserveCandidate(res)
	rs.tally.Add(noise.Signature(res))
	real, noiseDiffs := rs.det.Split(res)
	counts := rs.count(len(real) == 0)
	if len(real) == 0 || m.cfg.Recorder == nil {
		return
	}
	m.cfg.Recorder.Record(record.Input{
		Mismatch: record.Mismatch{
			Time: time.Now().UTC(), Instance: m.instance, Started: m.started,
			Route: rs.cfg.Name, Method: j.method, Path: pathQuery(client, j.url.RawQuery), Served: j.served,
			RequestHeader: j.header,
			Legacy:        recordAnswer(legacy, legacyLat),
			New:           recordAnswer(newA, newLat),
			Diffs:         real, Noise: noiseDiffs,
			Signature: diff.Result{Diffs: real}.Signature(),
			Counts:    counts,
		},
		RequestBody: j.body, LegacyBody: legacy.Body, NewBody: newA.Body,
	})
}

// learnNoise asks legacy a second time (second_legacy, or legacy itself
// for a sampled share) and feeds the legacy-vs-legacy comparison.
func (m *Mirror) learnNoise(ctx context.Context, j *job, client string, legacy diff.Answer) {
	rs := j.route
	var u url.URL
	switch {
	case rs.cfg.SecondLegacy != nil:
		u = joinURL(rs.cfg.SecondLegacy, client, j.url.RawQuery)
	case rs.cfg.NoiseSample > 0 && (rs.cfg.NoiseSample >= 1 || rand.Float64() < rs.cfg.NoiseSample):
		u = m.sideURL(rs, sideLegacy, client, j.url.RawQuery)
	default:
		return
	}
	second, _, err := m.send(ctx, j, u)
	if err != nil {
		m.log.Debug("second legacy request failed", "route", rs.cfg.Name, "err", err)
		return
	}
	rs.det.ObserveLegacyPair(rs.cmp.Compare(legacy, second))
}

func pathQuery(p, rawQuery string) string {
	if rawQuery == "" {
		return p
	}
	return p + "?" + rawQuery
}

func (m *Mirror) sideURL(rs *routeState, side, client, rawQuery string) url.URL {
	if side == sideLegacy {
		return joinURL(m.cfg.Legacy, client, rawQuery)
	}
	u := *rs.cfg.New
	u.Path, u.RawPath, u.RawQuery = rs.newPath(client), "", rawQuery
	return u
}

func joinURL(base *url.URL, p, rawQuery string) url.URL {
	u := *base
	u.Path, u.RawPath, u.RawQuery = joinPath(base.Path, p), "", rawQuery
	return u
}

// send performs one mirrored exchange, reading at most MaxBodyBytes of the
// answer into memory and hashing all of it, within the route's timeout.
func (m *Mirror) send(ctx context.Context, j *job, target url.URL) (diff.Answer, time.Duration, error) {
	rs := j.route
	ctx, cancel := context.WithTimeout(ctx, rs.cfg.Timeout)
	defer cancel()
	start := time.Now()
	var resp *http.Response
	var finish func(clean bool)
	var err error
	if m.raw != nil && target.Scheme == "http" {
		resp, finish, err = m.raw.do(ctx, j.method, &target, j.header, j.body)
	} else {
		resp, finish, err = m.sendTransport(ctx, j, target)
	}
	if err != nil {
		return diff.Answer{}, 0, err
	}
	a, err := m.readAnswer(rs, resp)
	finish(err == nil)
	if err != nil {
		return diff.Answer{}, 0, err
	}
	return a, time.Since(start), nil
}

func (m *Mirror) sendTransport(ctx context.Context, j *job, target url.URL) (*http.Response, func(bool), error) {
	var body io.Reader
	if j.body != nil {
		body = bytes.NewReader(j.body)
	}
	req, err := http.NewRequestWithContext(ctx, j.method, target.String(), body)
	if err != nil {
		return nil, nil, fmt.Errorf("build shadow request: %w", err)
	}
	req.Header = j.header.Clone()
	req.Header.Set(HeaderName, "1")
	req.ContentLength = int64(len(j.body))
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, nil, redact.Error(err) // logged: the URL's query may hold secrets
	}
	// finish runs once readAnswer is done with the body: closing only frees the connection.
	return resp, func(bool) { _ = resp.Body.Close() }, nil
}

// readAnswer reads the whole body, keeping at most MaxBodyBytes of it.
func (m *Mirror) readAnswer(rs *routeState, resp *http.Response) (diff.Answer, error) {
	h := sha256.New()
	var buf bytes.Buffer
	if cl := resp.ContentLength; cl > 0 {
		buf.Grow(int(min(cl, rs.cfg.MaxBodyBytes)))
	}
	cb, _ := m.bufs.Get().(*[copyBufSize]byte)
	if cb == nil {
		cb = new([copyBufSize]byte)
	}
	n, err := io.CopyBuffer(io.MultiWriter(h, &capWriter{buf: &buf, max: rs.cfg.MaxBodyBytes}), resp.Body, cb[:])
	m.bufs.Put(cb)
	if err != nil {
		return diff.Answer{}, fmt.Errorf("read shadow answer: %w", err)
	}
	a := diff.Answer{
		Status: resp.StatusCode, Header: resp.Header, ContentType: resp.Header.Get("Content-Type"),
		Body: buf.Bytes(), Truncated: n > int64(buf.Len()), Size: n,
	}
	h.Sum(a.Hash[:0])
	return a, nil
}

// capWriter keeps the first max bytes and discards the rest.
type capWriter struct {
	buf *bytes.Buffer
	max int64
}

func (w *capWriter) Write(p []byte) (int, error) {
	if room := w.max - int64(w.buf.Len()); room > 0 {
		w.buf.Write(p[:min(int64(len(p)), room)])
	}
	return len(p), nil
}

func recordAnswer(a diff.Answer, lat time.Duration) record.Answer {
	return record.Answer{
		Status: a.Status, Header: a.Header, BodyTruncated: a.Truncated, Size: a.Size,
		LatencyMS: float64(lat.Microseconds()) / 1000,
	}
}
