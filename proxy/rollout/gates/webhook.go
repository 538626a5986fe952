// Package gates holds the rollout.gates checks the controller runs beside
// its built-in figures: a webhook (POST the step, 2xx passes) and a
// Prometheus instant query held to a threshold.
package gates

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ficus-migrate/ficus/proxy/rollout"
)

// maxReason bounds how much of an answer's body becomes a reason: it is
// logged, published and kept in the route state.
const maxReason = 512

// WebhookConfig configures a Webhook gate.
type WebhookConfig struct {
	Name string
	// URL receives the POST; it may carry a token, so it is never logged
	// or put in a reason.
	URL string
	// Timeout bounds the whole exchange [10s].
	Timeout time.Duration
	DryRun  bool
	// Client sends the request [a client of its own].
	Client *http.Client
}

// Webhook POSTs the route, step, weight and figures as JSON: a 2xx answer
// passes; any other answer fails with its body as the reason, as does a
// timeout or an unreachable receiver.
type Webhook struct{ cfg WebhookConfig }

// NewWebhook returns a webhook gate.
func NewWebhook(cfg WebhookConfig) *Webhook {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	return &Webhook{cfg: cfg}
}

// Name is the gate's name in the config.
func (w *Webhook) Name() string { return w.cfg.Name }

// Check sends one POST.
func (w *Webhook) Check(ctx context.Context, in rollout.GateInput) rollout.GateResult {
	r := rollout.GateResult{Name: w.cfg.Name, Kind: "webhook", Threshold: "2xx", DryRun: w.cfg.DryRun}
	status, body, err := w.post(ctx, in)
	r.Value = float64(status)
	switch {
	case err != nil:
		r.Verdict, r.Reason = rollout.GateFail, err.Error()
	case status < 200 || status > 299:
		r.Verdict, r.Reason = rollout.GateFail, fmt.Sprintf("answered %d: %s", status, body)
	default:
		r.Verdict = rollout.GatePass
	}
	return r
}

func (w *Webhook) post(ctx context.Context, in rollout.GateInput) (int, string, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return 0, "", fmt.Errorf("cannot encode the request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(b))
	if err != nil {
		return 0, "", errors.New("bad webhook URL (not shown: it may hold a token)")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ficus-rollout-gate")
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		return 0, "", noURL(ctx, err, w.cfg.Timeout)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxReason+1))
	if err != nil && resp.StatusCode/100 != 2 {
		return resp.StatusCode, "", fmt.Errorf("answered %d, then the body broke off: %w", resp.StatusCode, noURL(ctx, err, w.cfg.Timeout))
	}
	return resp.StatusCode, clip(string(raw)), nil
}

// noURL says why a request failed without the URL net/http puts in its
// errors (it may hold a token).
func noURL(ctx context.Context, err error, timeout time.Duration) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %s", timeout)
	}
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return fmt.Errorf("request failed: %w", ue.Err)
	}
	return fmt.Errorf("request failed: %w", err)
}

func clip(s string) string {
	s = strings.TrimSpace(strings.ToValidUTF8(s, "?"))
	if len(s) > maxReason {
		s = strings.ToValidUTF8(s[:maxReason], "") + "…"
	}
	return s
}
