package gates

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ficus-migrate/ficus/proxy/rollout"
	"github.com/ficus-migrate/ficus/shadow/data/continuous"
)

// DataConfig configures a Data gate.
type DataConfig struct {
	Name string
	// Compare is the compare_data entry whose tallies the gate sums.
	Compare string
	// MaxDifferRate, MaxMissingRate (shares of the keys settled in the
	// step) and MaxBehindSeconds (p99); nil is no bound.
	MaxDifferRate, MaxMissingRate, MaxBehindSeconds *float64
	DryRun                                          bool
	// Conn carries every process's tallies (continuous.TallyPrefix).
	Conn *nats.Conn
	// Stale is how long a process may be silent before the gate says no
	// process publishes the comparison [10s].
	Stale time.Duration
}

// Data holds a continuous data comparison's figures over the step to
// thresholds. Every process running the comparison publishes cumulative
// counts each second; the gate keeps the latest of each and, as the
// controller's own window does, takes what was counted when the window
// started as the baseline (zero for a process that started after it).
type Data struct {
	cfg DataConfig
	sub *nats.Subscription

	mu    sync.Mutex
	start time.Time
	base  map[string]continuous.Tally // by instance
	last  map[string]seen
}

type seen struct {
	t  continuous.Tally
	at time.Time // when it arrived
}

// NewData subscribes to the comparison's tallies; Close ends that.
func NewData(cfg DataConfig) (*Data, error) {
	if cfg.Conn == nil || cfg.Compare == "" {
		return nil, errors.New("data gate: need a NATS connection and a compare_data name")
	}
	if cfg.Stale <= 0 {
		cfg.Stale = 10 * time.Second
	}
	d := &Data{cfg: cfg, start: time.Now(), base: map[string]continuous.Tally{}, last: map[string]seen{}}
	buckets := len(continuous.BehindBounds()) + 1
	sub, err := cfg.Conn.Subscribe(continuous.TallyPrefix+cfg.Compare, func(m *nats.Msg) {
		var t continuous.Tally
		// A tally with more buckets than ficus writes is not ficus's: it
		// is dropped rather than summed into every later judgement.
		if json.Unmarshal(m.Data, &t) != nil || t.Instance == "" || t.Name != cfg.Compare || len(t.Behind) > buckets {
			return
		}
		d.add(t, time.Now())
	})
	if err != nil {
		return nil, fmt.Errorf("data gate %s: subscribe to %s: %w", cfg.Name, continuous.TallyPrefix+cfg.Compare, err)
	}
	d.sub = sub
	// The subscription is in place before the first step is judged; NATS
	// away is no error here (the subscription is renewed on reconnect).
	_ = cfg.Conn.FlushTimeout(2 * time.Second)
	return d, nil
}

// Close stops following the tallies.
func (d *Data) Close() error { return d.sub.Unsubscribe() }

// Name is the gate's name in the config.
func (d *Data) Name() string { return d.cfg.Name }

func (d *Data) add(t continuous.Tally, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.base[t.Instance]; !ok {
		b := t
		if t.Started.After(d.start) {
			b = continuous.Tally{Instance: t.Instance, Started: t.Started}
		}
		d.base[t.Instance] = b
	}
	d.last[t.Instance] = seen{t, now}
}

// StartWindow makes what every process counted so far the baseline.
// Processes silent for long (stopped ones) are forgotten: they count
// nothing in the new window.
func (d *Data) StartWindow(at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.start = at
	d.base = make(map[string]continuous.Tally, len(d.last))
	for id, s := range d.last {
		if at.Sub(s.at) > time.Minute {
			delete(d.last, id)
			continue
		}
		d.base[id] = s.t
	}
}

// window sums every process's counts since the window began; fresh is
// how many processes published within Stale.
func (d *Data) window(now time.Time) (sum continuous.Tally, fresh int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, s := range d.last {
		sum.Add(s.t.Since(d.base[id]))
		if now.Sub(s.at) <= d.cfg.Stale {
			fresh++
		}
	}
	return sum, fresh
}

func (d *Data) threshold() string {
	var s []string
	for _, b := range []struct {
		name string
		v    *float64
	}{{"max_differ_rate", d.cfg.MaxDifferRate}, {"max_missing_rate", d.cfg.MaxMissingRate}, {"max_behind_seconds", d.cfg.MaxBehindSeconds}} {
		if b.v != nil {
			s = append(s, b.name+" "+strconv.FormatFloat(*b.v, 'g', -1, 64))
		}
	}
	return strings.Join(s, ", ")
}

// Check judges the window's figures; it never blocks.
func (d *Data) Check(_ context.Context, in rollout.GateInput) rollout.GateResult {
	now := time.Now()
	r := rollout.GateResult{Name: d.cfg.Name, Kind: "data", Threshold: d.threshold(), DryRun: d.cfg.DryRun}
	t, fresh := d.window(now)
	if fresh == 0 {
		r.Verdict = rollout.GateHold
		r.Reason = fmt.Sprintf("no process publishes compare_data %s's figures (none in the last %s): is a `ficus run` with that "+
			"compare_data running and connected to NATS?", d.cfg.Compare, d.cfg.Stale)
		return r
	}
	differRate, missingRate := rate(t.Differs, t.Settled), rate(t.Missing(), t.Settled)
	behind := t.BehindQuantile(0.99)
	r.Value = differRate
	r.Measures = map[string]float64{
		"settled": float64(t.Settled), "differs": float64(t.Differs), "missing": float64(t.Missing()),
		"differ_rate": differRate, "missing_rate": missingRate, "behind_p99_seconds": behind,
		"changes": float64(t.Changes), "dropped": float64(t.Dropped), "errors": float64(t.Errors),
	}
	figures := fmt.Sprintf("compare_data %s over the step: differ rate %.4f (%d of %d settled keys), missing rate %.4f (%d), "+
		"behind p99 %gs (%d changes compared)", d.cfg.Compare, differRate, t.Differs, t.Settled, missingRate, t.Missing(), behind, t.Changes)
	var breaches []string
	if b := d.cfg.MaxDifferRate; b != nil && differRate > *b {
		breaches = append(breaches, fmt.Sprintf("differ rate %.4f > max_differ_rate %g", differRate, *b))
	}
	if b := d.cfg.MaxMissingRate; b != nil && missingRate > *b {
		breaches = append(breaches, fmt.Sprintf("missing rate %.4f > max_missing_rate %g", missingRate, *b))
	}
	if b := d.cfg.MaxBehindSeconds; b != nil && behind > *b {
		breaches = append(breaches, fmt.Sprintf("behind p99 %gs > max_behind_seconds %g", behind, *b))
	}
	maxLag := time.Duration(t.MaxLagSeconds * float64(time.Second))
	atStep := now.Sub(in.StepStarted)
	switch {
	case len(breaches) > 0:
		// A breach found early is a breach: findings already reported do
		// not go away by waiting.
		r.Verdict, r.Reason = rollout.GateFail, strings.Join(breaches, "; ")+": "+figures
	case !in.StepStarted.IsZero() && atStep < maxLag:
		r.Verdict = rollout.GateHold
		r.Reason = fmt.Sprintf("the step's writes are judged max_lag (%s) after their sides first disagree: %s of the step passed; %s",
			maxLag, atStep.Round(time.Second), figures)
	case t.Settled == 0:
		r.Verdict = rollout.GateHold
		r.Reason = "no key settled during the step yet: " + figures
	default:
		r.Verdict, r.Reason = rollout.GatePass, figures
	}
	return r
}

func rate(a, b uint64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
