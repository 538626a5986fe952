package rollout

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ficus-migrate/ficus/shadow/traffic/noise"
)

// StatsPrefix + route is where every process publishes its Report of the
// route. It is not under ficus.rollout. so that event consumers
// (ficus.rollout.>) see decisions only.
const StatsPrefix = "ficus.routestats."

// Metric names read from the process's registry: the proxy's and the
// shadow mirror's own metrics, so neither package needs to know about
// rollouts.
const (
	metricRequests   = "ficus_proxy_requests_total"
	metricDuration   = "ficus_proxy_request_duration_seconds"
	metricCompared   = "ficus_shadow_compared_total"
	metricMismatched = "ficus_shadow_mismatched_total"
)

// StatsConfig configures a StatsPublisher.
type StatsConfig struct {
	Gatherer prometheus.Gatherer
	Conn     Publisher
	Instance string
	// Routes whose reports are published.
	Routes []string
	// Shadow returns a shadowed route's comparisons by signature and the
	// noise known now (mirror.Mirror.Snapshot); nil without shadowing.
	Shadow func(route string) (noise.Snapshot, bool)
	// Every is the publishing interval [1s].
	Every  time.Duration
	Logger *slog.Logger
}

// StatsPublisher publishes this process's per-route counters on an interval.
type StatsPublisher struct {
	cfg     StatsConfig
	log     *slog.Logger
	started time.Time
}

// NewStatsPublisher returns a publisher; Run starts it.
func NewStatsPublisher(cfg StatsConfig) *StatsPublisher {
	if cfg.Every <= 0 {
		cfg.Every = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &StatsPublisher{cfg: cfg, log: cfg.Logger.With("component", "rollout"), started: time.Now().UTC()}
}

// Run publishes every interval until ctx ends.
func (s *StatsPublisher) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		reports, err := s.collect()
		if err != nil {
			s.log.Warn("cannot gather route counters", "err", err)
			continue
		}
		for _, r := range reports {
			b, err := json.Marshal(r)
			if err == nil {
				err = s.cfg.Conn.Publish(StatsPrefix+r.Route, b)
			}
			if err != nil {
				s.log.Debug("cannot publish route counters", "route", r.Route, "err", err)
			}
		}
	}
}

// collect reads the registry once and builds one report per route.
func (s *StatsPublisher) collect() ([]Report, error) {
	mfs, err := s.cfg.Gatherer.Gather()
	if err != nil {
		return nil, err
	}
	byRoute := make(map[string]*Report, len(s.cfg.Routes))
	out := make([]Report, len(s.cfg.Routes))
	for i, name := range s.cfg.Routes {
		out[i] = Report{Instance: s.cfg.Instance, Started: s.started, Route: name}
		byRoute[name] = &out[i]
		if s.cfg.Shadow == nil {
			continue
		}
		if snap, ok := s.cfg.Shadow(name); ok {
			h := snap.Hashed() // the paths stay in the process (see Hashed)
			out[i].Shadow = &h
		}
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := labelMap(m)
			r := byRoute[labels["route"]]
			if r == nil {
				continue
			}
			side := &r.Legacy
			if labels["side"] == "new" {
				side = &r.New
			}
			switch mf.GetName() {
			case metricRequests:
				v := uint64(m.GetCounter().GetValue())
				side.Requests += v
				if labels["code_class"] == "5xx" {
					side.Status5xx += v
				}
			case metricDuration:
				h := m.GetHistogram()
				side.Count = h.GetSampleCount()
				side.Bounds, side.Buckets = side.Bounds[:0], side.Buckets[:0]
				for _, b := range h.GetBucket() {
					side.Bounds = append(side.Bounds, b.GetUpperBound())
					side.Buckets = append(side.Buckets, b.GetCumulativeCount())
				}
			case metricCompared:
				r.Compared = uint64(m.GetCounter().GetValue())
			case metricMismatched:
				r.Mismatched = uint64(m.GetCounter().GetValue())
			}
		}
	}
	return out, nil
}

func labelMap(m *dto.Metric) map[string]string {
	out := make(map[string]string, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}
