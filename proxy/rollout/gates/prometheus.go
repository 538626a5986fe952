package gates

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ficus-migrate/ficus/internal/backoff"
	"github.com/ficus-migrate/ficus/proxy/rollout"
)

// OnError is what a Prometheus gate says when its server cannot answer.
type OnError string

// On-error verdicts.
const (
	OnErrorHold OnError = "hold"
	OnErrorFail OnError = "fail"
)

// PrometheusConfig configures a Prometheus gate.
type PrometheusConfig struct {
	Name string
	// URL is the server's base (http://prometheus:9090); the query goes
	// to URL/api/v1/query. Never logged: it may carry credentials.
	URL   string
	Query string
	// Max and Min bound the sample; nil is no bound.
	Max, Min *float64
	// OnError is the verdict once Tries attempts found no answer [hold].
	OnError OnError
	// Timeout bounds each attempt [10s]; Tries is how many [3].
	Timeout time.Duration
	Tries   int
	// Retry spaces the attempts [200ms doubling to 2s].
	Retry  backoff.Policy
	DryRun bool
	Client *http.Client
}

// Prometheus runs an instant query and holds its one sample to the
// thresholds: no sample holds (nothing to judge), more than one fails
// (the query must say one thing), an unreachable server holds or fails
// per OnError after a bounded number of tries.
type Prometheus struct{ cfg PrometheusConfig }

// NewPrometheus returns a Prometheus gate.
func NewPrometheus(cfg PrometheusConfig) *Prometheus {
	if cfg.OnError == "" {
		cfg.OnError = OnErrorHold
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Tries <= 0 {
		cfg.Tries = 3
	}
	if cfg.Retry == (backoff.Policy{}) {
		cfg.Retry = backoff.Policy{Initial: 200 * time.Millisecond, Max: 2 * time.Second, Jitter: 0.2}
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	return &Prometheus{cfg: cfg}
}

// Name is the gate's name in the config.
func (p *Prometheus) Name() string { return p.cfg.Name }

func (p *Prometheus) threshold() string {
	var s []string
	if p.cfg.Min != nil {
		s = append(s, "min "+strconv.FormatFloat(*p.cfg.Min, 'g', -1, 64))
	}
	if p.cfg.Max != nil {
		s = append(s, "max "+strconv.FormatFloat(*p.cfg.Max, 'g', -1, 64))
	}
	return strings.Join(s, ", ")
}

// Check runs the query, retrying what may pass (no answer, a 5xx).
func (p *Prometheus) Check(ctx context.Context, _ rollout.GateInput) rollout.GateResult {
	r := rollout.GateResult{Name: p.cfg.Name, Kind: "prometheus", Threshold: p.threshold(), DryRun: p.cfg.DryRun}
	b := backoff.New(p.cfg.Retry)
	var samples []float64
	var err error
	for try := 1; ; try++ {
		var retry bool
		samples, retry, err = p.query(ctx)
		if err == nil || !retry || try >= p.cfg.Tries || backoff.Wait(ctx, b.Next()) != nil {
			if err != nil && retry {
				err = fmt.Errorf("%w (%d tries)", err, try)
			}
			break
		}
	}
	switch {
	case err != nil:
		r.Verdict, r.Reason = rollout.GateVerdict(p.cfg.OnError), "prometheus: "+err.Error()
	case len(samples) == 0:
		r.Verdict, r.Reason = rollout.GateHold, "the query returned no sample"
	case len(samples) > 1:
		r.Verdict, r.Reason = rollout.GateFail, fmt.Sprintf("the query returned %d samples, want one (aggregate it, e.g. sum(…))", len(samples))
	default:
		r.Value = samples[0]
		switch v := samples[0]; {
		case math.IsNaN(v):
			r.Verdict, r.Reason = rollout.GateHold, "the query returned NaN (such as a rate over no requests)"
		case p.cfg.Max != nil && v > *p.cfg.Max:
			r.Verdict, r.Reason = rollout.GateFail, fmt.Sprintf("%g > max %g", v, *p.cfg.Max)
		case p.cfg.Min != nil && v < *p.cfg.Min:
			r.Verdict, r.Reason = rollout.GateFail, fmt.Sprintf("%g < min %g", v, *p.cfg.Min)
		default:
			r.Verdict = rollout.GatePass
		}
	}
	return r
}

// queryAnswer is the HTTP API's envelope for /api/v1/query.
type queryAnswer struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

// query runs one attempt; retry says whether another may do better.
func (p *Prometheus) query(ctx context.Context) (samples []float64, retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	u := strings.TrimRight(p.cfg.URL, "/") + "/api/v1/query?" + url.Values{"query": {p.cfg.Query}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, false, errors.New("bad server URL (not shown: it may hold credentials)")
	}
	resp, err := p.cfg.Client.Do(req)
	if err != nil {
		return nil, true, noURL(ctx, err, p.cfg.Timeout)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, true, noURL(ctx, err, p.cfg.Timeout)
	}
	var a queryAnswer
	if jerr := json.Unmarshal(raw, &a); jerr != nil {
		return nil, resp.StatusCode >= 500, fmt.Errorf("answered %d, not the query API's JSON: %s", resp.StatusCode, clip(string(raw)))
	}
	if a.Status != "success" {
		return nil, resp.StatusCode >= 500, fmt.Errorf("query failed (%d, %s): %s", resp.StatusCode, a.ErrorType, clip(a.Error))
	}
	return decodeSamples(a.Data.ResultType, a.Data.Result)
}

// decodeSamples reads a vector's or a scalar's values (as strings, which
// is how the API writes them, NaN and ±Inf included).
func decodeSamples(kind string, raw json.RawMessage) ([]float64, bool, error) {
	switch kind {
	case "vector":
		var vec []struct {
			Value [2]any `json:"value"`
		}
		if err := json.Unmarshal(raw, &vec); err != nil {
			return nil, false, fmt.Errorf("bad vector: %w", err)
		}
		out := make([]float64, 0, len(vec))
		for _, s := range vec {
			v, err := sampleValue(s.Value)
			if err != nil {
				return nil, false, err
			}
			out = append(out, v)
		}
		return out, false, nil
	case "scalar":
		var pt [2]any
		if err := json.Unmarshal(raw, &pt); err != nil {
			return nil, false, fmt.Errorf("bad scalar: %w", err)
		}
		v, err := sampleValue(pt)
		if err != nil {
			return nil, false, err
		}
		return []float64{v}, false, nil
	}
	return nil, false, fmt.Errorf("the query returned a %s, want a vector or a scalar", kind)
}

func sampleValue(pt [2]any) (float64, error) {
	s, ok := pt[1].(string)
	if !ok {
		return 0, fmt.Errorf("bad sample value %v", pt[1])
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("bad sample value %q", s)
	}
	return v, nil
}
