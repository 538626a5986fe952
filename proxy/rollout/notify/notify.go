// Package notify delivers rollout decisions to webhooks (rollout.notify in
// the config): the event JSON as published on ficus.rollout.<route>, or a
// Slack incoming-webhook body.
//
// Delivery never holds up the controller: Notify only appends to a bounded
// queue per target (full: the decision is dropped and counted). One sender
// per target posts its queue in order, retrying connection errors,
// timeouts, 429 and 5xx with backoff until the decision is older than
// GiveUpAfter. Webhook URLs are secrets: only scheme://host is ever logged
// or used as a label.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ficus-migrate/ficus/internal/backoff"
	"github.com/ficus-migrate/ficus/internal/config"
	metricsreg "github.com/ficus-migrate/ficus/internal/metrics"
	"github.com/ficus-migrate/ficus/proxy/rollout"
)

// Format is the body a target receives.
type Format string

// Formats.
const (
	JSON  Format = "json"  // the event as published on ficus.rollout.<route>
	Slack Format = "slack" // {"text": "one readable line"}
)

// Target is one webhook of one route.
type Target struct {
	Route string
	// URL is the webhook itself (secret: never logged in full).
	URL    string
	Format Format
}

// Config configures a Notifier. Zero values take the defaults in brackets.
type Config struct {
	Targets []Target
	// Client posts the notifications [10 s timeout, no redirects].
	Client *http.Client
	// QueueItems and QueueBytes bound each target's queue [1000, 4 MiB].
	QueueItems int
	QueueBytes int64
	// GiveUpAfter is how long a decision is retried, counted from the
	// decision [15m]. It is always tried at least once.
	GiveUpAfter time.Duration
	// Backoff spaces the retries [500ms doubling up to 10s, 20% jitter].
	Backoff backoff.Policy
	// DrainTimeout bounds the last attempt at what is queued when Run's
	// context ends [2s].
	DrainTimeout time.Duration
	// Registerer receives ficus_rollout_notifications_total [private].
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Notifier queues every decision for the webhooks of its route.
type Notifier struct {
	cfg     Config
	log     *slog.Logger
	byRoute map[string][]*queue
	all     []*queue
}

// maxRetryAfter caps how long a receiver's Retry-After can hold a target.
const maxRetryAfter = time.Minute

// New checks the targets and returns a Notifier; Run sends.
func New(cfg Config) (*Notifier, error) {
	if cfg.Client == nil {
		cfg.Client = &http.Client{
			Timeout: 10 * time.Second,
			// A webhook that redirects is misconfigured; following it
			// would turn the POST into a GET, or send the body elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if cfg.QueueItems <= 0 {
		cfg.QueueItems = 1000
	}
	if cfg.QueueBytes <= 0 {
		cfg.QueueBytes = 4 << 20
	}
	if cfg.GiveUpAfter <= 0 {
		cfg.GiveUpAfter = 15 * time.Minute
	}
	if cfg.Backoff == (backoff.Policy{}) {
		cfg.Backoff = backoff.Policy{Initial: 500 * time.Millisecond, Max: 10 * time.Second, Jitter: 0.2}
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	counter := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ficus_rollout_notifications_total",
		Help: "Rollout decisions sent to rollout.notify webhooks, by route, target (scheme://host) and result: " +
			"sent, retried (one per retry), dropped (queue full), failed (not accepted, or given up).",
	}, []string{"route", "target", "result"})
	r := metricsreg.NewRegistrar(cfg.Registerer)
	counter = metricsreg.Reuse(r, counter)
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("register notify metrics: %w", err)
	}
	n := &Notifier{cfg: cfg, log: cfg.Logger.With("component", "rollout-notify"), byRoute: map[string][]*queue{}}
	labels := map[string]int{}
	for _, t := range cfg.Targets {
		if t.Format != JSON && t.Format != Slack {
			return nil, fmt.Errorf("route %q: notify format %q (want json or slack)", t.Route, t.Format)
		}
		name := config.MaskURL(t.URL)
		if k := t.Route + " " + name; labels[k] > 0 {
			// Two targets on one host must not share a series.
			labels[k]++
			name = fmt.Sprintf("%s#%d", name, labels[k])
		} else {
			labels[k] = 1
		}
		q := &queue{
			target: t, name: name, wake: make(chan struct{}, 1),
			maxItems: cfg.QueueItems, maxBytes: cfg.QueueBytes,
			sent:    counter.WithLabelValues(t.Route, name, "sent"),
			retried: counter.WithLabelValues(t.Route, name, "retried"),
			dropped: counter.WithLabelValues(t.Route, name, "dropped"),
			failed:  counter.WithLabelValues(t.Route, name, "failed"),
		}
		n.byRoute[t.Route] = append(n.byRoute[t.Route], q)
		n.all = append(n.all, q)
	}
	return n, nil
}

// Notify queues one decision for every target of its route; body is the
// event as published. It never blocks: a full queue drops and counts.
func (n *Notifier) Notify(ev rollout.Event, body []byte) {
	for _, q := range n.byRoute[ev.Route] {
		b := body
		if q.target.Format == Slack {
			b = slackBody(ev)
		}
		if !q.push(item{body: b, at: time.Now(), action: ev.Action}) {
			q.dropped.Inc()
			if q.startDropping() {
				n.log.Warn("notify queue full: dropping rollout decisions until the target catches up",
					"route", ev.Route, "target", q.name, "action", ev.Action, "queue_items", n.cfg.QueueItems)
			}
		}
	}
}

// Run sends every target's queue until ctx ends, then gives what is still
// queued one attempt within DrainTimeout.
func (n *Notifier) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, q := range n.all {
		wg.Go(func() { n.send(ctx, q) })
	}
	wg.Wait()
	drain, cancel := context.WithTimeout(context.Background(), n.cfg.DrainTimeout)
	defer cancel()
	for _, q := range n.all {
		wg.Go(func() {
			lost := 0
			for {
				it, ok := q.tryPop()
				if !ok {
					break
				}
				if drain.Err() == nil && n.post(drain, q, it) == nil {
					q.sent.Inc()
					continue
				}
				q.failed.Inc()
				lost++
			}
			if lost > 0 {
				n.log.Warn("rollout decisions not delivered before shutdown", "route", q.target.Route, "target", q.name, "count", lost)
			}
		})
	}
	wg.Wait()
	return nil
}

// send posts q's decisions in order until ctx ends.
func (n *Notifier) send(ctx context.Context, q *queue) {
	for {
		it, ok := q.pop(ctx)
		if !ok {
			return
		}
		if !n.deliver(ctx, q, it) {
			// ctx ended mid-delivery: put it back for the drain.
			q.unshift(it)
			return
		}
	}
}

// deliver posts one decision, retrying until it is accepted, refused for
// good or too old. It returns false only when ctx ended first.
func (n *Notifier) deliver(ctx context.Context, q *queue, it item) bool {
	b := backoff.New(n.cfg.Backoff)
	log := n.log.With("route", q.target.Route, "target", q.name, "action", it.action)
	for {
		err := n.post(ctx, q, it)
		if err == nil {
			q.sent.Inc()
			if q.failing {
				q.failing = false
				log.Info("notify target reachable again")
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		var re *retryable
		if !errors.As(err, &re) {
			q.failed.Inc()
			log.Warn("notify target refused a rollout decision; not retried", "err", err)
			return true
		}
		// The last retry comes at the bound, not past it.
		left := n.cfg.GiveUpAfter - time.Since(it.at)
		wait := min(max(b.Next(), min(re.after, maxRetryAfter)), left)
		if left <= 0 {
			q.failed.Inc()
			log.Warn("giving up on a rollout decision", "err", err, "age", time.Since(it.at).Round(time.Millisecond),
				"give_up_after", n.cfg.GiveUpAfter)
			return true
		}
		if !q.failing {
			q.failing = true
			log.Warn("notify target unreachable: retrying with backoff (decisions stay queued in order)", "err", err)
		}
		q.retried.Inc()
		if backoff.Wait(ctx, wait) != nil {
			return false
		}
	}
}
