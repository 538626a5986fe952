package client

import (
	"context"
	"fmt"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics is GET /metrics: the Prometheus text exposition.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	return c.GetText(ctx, "/metrics")
}

// Sample is one sample of a counter, gauge or untyped metric.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Samples reads GET /metrics and returns the samples of the metric name, a
// counter, gauge or untyped one; none when this ficus does not export it
// (a part it does not run).
func (c *Client) Samples(ctx context.Context, name string) ([]Sample, error) {
	text, err := c.Metrics(ctx)
	if err != nil {
		return nil, err
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("GET /metrics: %w", err)
	}
	mf := families[name]
	if mf == nil {
		return nil, nil
	}
	out := make([]Sample, 0, len(mf.GetMetric()))
	for _, m := range mf.GetMetric() {
		s := Sample{Labels: make(map[string]string, len(m.GetLabel()))}
		for _, l := range m.GetLabel() {
			s.Labels[l.GetName()] = l.GetValue()
		}
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			s.Value = m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			s.Value = m.GetGauge().GetValue()
		case dto.MetricType_UNTYPED:
			s.Value = m.GetUntyped().GetValue()
		default:
			return nil, fmt.Errorf("GET /metrics: %s is a %s, not a counter or gauge", name, strings.ToLower(mf.GetType().String()))
		}
		out = append(out, s)
	}
	return out, nil
}
