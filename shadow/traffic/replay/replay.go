// Package replay sends recorded exchanges (package recording) again, to a
// build of the new service, and compares each answer with the recorded
// legacy answer by the route's compare rules and the noise known for the
// route: what `ficus replay` runs in staging or in CI.
//
// Secrets were redacted when the exchanges were recorded; a header whose
// recorded value is a redaction mark is not sent, unless the caller
// restores it (Config.Header) — secrets never come from the recording. The
// new answer is redacted with the recording's key before the comparison,
// so that both sides carry secrets the same way.
package replay

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ficus-migrate/ficus/shadow/redact"
	"github.com/ficus-migrate/ficus/shadow/traffic/diff"
	"github.com/ficus-migrate/ficus/shadow/traffic/mirror"
	"github.com/ficus-migrate/ficus/shadow/traffic/noise"
	"github.com/ficus-migrate/ficus/shadow/traffic/recording"
)

// Config configures a replay.
type Config struct {
	// Route names the route replayed (its exchanges only are sent).
	Route string
	// To is the base URL the requests go to (required); StripPrefix and
	// AddPrefix rewrite the client's path for it as the proxy does for the
	// route's new side.
	To                     *url.URL
	StripPrefix, AddPrefix string
	// NoiseFrom, when set, is a second legacy instance every request is
	// also sent to, to learn the noise (what differs between two legacy
	// answers anyway) the recording cannot know. It gets the client's path.
	NoiseFrom *url.URL
	// Rules are the route's comparison rules; Noise tunes the detector.
	Rules diff.Rules
	Noise noise.Config
	// KnownNoise, when set, reports the generalized paths already known as
	// noise for the route (the shadow tallies' knowledge, see
	// NoiseOfTallies).
	KnownNoise func(path string) bool
	// Header is set on every request, after the recorded headers: the
	// only way to send a secret (a token of the staging environment).
	Header http.Header
	// RedactKey is the recording's key (shadow.redact.key): the new answer
	// is redacted with it, by the built-in rules and Redact.
	RedactKey []byte
	Redact    redact.Rules
	// Concurrency is the number of requests in flight [16].
	Concurrency int
	// Pace limits the sending rate (see Pace).
	Pace Pace
	// AllowWrites replays unsafe methods (POST, PUT, ...); they are skipped
	// otherwise. With it, the exchanges of one sticky key (a user) are sent
	// one after the other in recorded order, so a new service with a fresh
	// database can follow a session.
	AllowWrites bool
	// Timeout bounds each request, answer included [10s].
	Timeout time.Duration
	// MaxBodyBytes caps the answer bytes kept for the comparison [1 MiB];
	// longer answers are compared by size and hash.
	MaxBodyBytes int64
	// Transport sends the requests [a private http.Transport].
	Transport http.RoundTripper
	// Clock paces the sending [the wall clock].
	Clock Clock
	// Logger [slog.Default()].
	Logger *slog.Logger
}

// Run replays xs (those of cfg.Route) and returns the outcome of each, in
// recorded order. It returns an error only for a configuration it cannot
// use or when ctx ends; a request that fails is an outcome (Err).
func Run(ctx context.Context, cfg Config, xs []recording.Exchange) (*Result, error) {
	if cfg.To == nil {
		return nil, errors.New("replay: a target URL is required")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 16
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.Clock == nil {
		cfg.Clock = wallClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Transport == nil {
		tr := &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency, IdleConnTimeout: 30 * time.Second, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		cfg.Transport = tr
	}
	cmpr, err := diff.Compile(cfg.Rules)
	if err != nil {
		return nil, fmt.Errorf("replay: compare rules: %w", err)
	}
	key := cfg.RedactKey
	if len(key) == 0 {
		if key, err = redact.NewKey(); err != nil {
			return nil, fmt.Errorf("replay: %w", err)
		}
	}
	red, err := redact.New(redact.Config{Rules: cfg.Redact, Key: key})
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	r := &runner{
		cfg: cfg, cmp: cmpr, red: red, det: noise.New(cfg.Noise),
		client: &http.Client{Transport: cfg.Transport, CheckRedirect: noRedirects},
		log:    cfg.Logger.With("component", "replay", "route", cfg.Route),
		to:     mirror.Paths{New: cfg.To, StripPrefix: cfg.StripPrefix, AddPrefix: cfg.AddPrefix},
	}
	if cfg.NoiseFrom != nil {
		r.noiseTo = &mirror.Paths{New: cfg.NoiseFrom}
	}
	return r.run(ctx, xs)
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

type runner struct {
	cfg     Config
	cmp     *diff.Comparator
	red     *redact.Redactor
	det     *noise.Detector
	client  *http.Client
	log     *slog.Logger
	to      mirror.Paths
	noiseTo *mirror.Paths
}

func (r *runner) run(ctx context.Context, xs []recording.Exchange) (*Result, error) {
	started := time.Now().UTC()
	xs = slices.Clone(xs)
	slices.SortStableFunc(xs, func(a, b recording.Exchange) int {
		return cmp.Or(a.Time.Compare(b.Time), strings.Compare(a.Instance, b.Instance), cmp.Compare(a.Seq, b.Seq))
	})
	outs := make([]Outcome, len(xs))
	var lanes [][]int // indexes of xs sent one after the other
	byKey := map[string]int{}
	for i, x := range xs {
		outs[i].Exchange = x
		if x.Route != r.cfg.Route && r.cfg.Route != "" {
			outs[i].Skipped = "another route"
			continue
		}
		if recording.Unsafe(x.Method) && !r.cfg.AllowWrites {
			outs[i].Skipped = "unsafe method (replay with --allow-writes)"
			continue
		}
		if r.cfg.AllowWrites && x.Sticky != "" {
			if l, ok := byKey[x.Sticky]; ok {
				lanes[l] = append(lanes[l], i)
				continue
			}
			byKey[x.Sticky] = len(lanes)
		}
		lanes = append(lanes, []int{i})
	}
	var first time.Time
	if len(xs) > 0 {
		first = xs[0].Time
	}
	pace := newPacer(r.cfg.Pace, r.cfg.Clock, first)
	work := make(chan []int)
	var wg sync.WaitGroup
	for range min(r.cfg.Concurrency, max(len(lanes), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lane := range work {
				for _, i := range lane {
					if err := pace.wait(ctx, xs[i].Time); err != nil {
						outs[i].Skipped = "stopped"
						continue
					}
					r.one(ctx, &outs[i])
				}
			}
		}()
	}
feed:
	for _, lane := range lanes {
		select {
		case work <- lane:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	// Judged at the end, with everything the detector learnt.
	for i := range outs {
		r.judge(&outs[i])
	}
	return newResult(r.cfg.Route, outs, r.det.Known().Paths, started, time.Now().UTC()), nil
}

// one sends one exchange (and its noise twin) and compares the answers.
func (r *runner) one(ctx context.Context, o *Outcome) {
	x := o.Exchange
	legacy := recordedAnswer(x.Answer)
	newAns, err := r.send(ctx, x, r.to)
	if err != nil {
		o.Err = redact.Error(err).Error()
		return
	}
	o.result = r.cmp.Compare(legacy, newAns.answer)
	if !o.result.Match() {
		// Kept for the report's example; a matching answer is not shown,
		// and a long replay would otherwise hold every body.
		o.New = newAns.shown
	}
	r.det.ObserveCandidate(o.result)
	if r.noiseTo != nil {
		twin, err := r.send(ctx, x, *r.noiseTo)
		if err != nil {
			r.log.Debug("noise request failed", "path", x.Path, "err", redact.Error(err))
			return
		}
		r.det.ObserveLegacyPair(r.cmp.Compare(legacy, twin.answer))
	}
}

// judge splits o's differences into real ones and noise.
func (r *runner) judge(o *Outcome) {
	if o.Skipped != "" || o.Err != "" {
		return
	}
	real, noisy := r.det.Split(o.result)
	if r.cfg.KnownNoise != nil {
		kept := real[:0]
		for _, d := range real {
			if d.Kind != diff.KindTruncated && r.cfg.KnownNoise(diff.Generalize(d.Path)) {
				noisy = append(noisy, d)
			} else {
				kept = append(kept, d)
			}
		}
		real = kept
	}
	o.Diffs, o.Noise = real, noisy
}
