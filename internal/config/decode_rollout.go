package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// This file decodes and validates a route's rollout block.

func (d *decoder) rollout(n *yaml.Node, l loc, r *Route) {
	ro := defaultRollout()
	var approve []weightAt // checked against the steps once both are read
	d.mapping(n, l,
		field{"steps", func(v *yaml.Node, l loc) { d.steps(v, l, &ro.Steps) }},
		field{"interval", func(v *yaml.Node, l loc) { d.duration(v, l, &ro.Interval, 1) }},
		field{"min_requests", func(v *yaml.Node, l loc) {
			if m, ok := d.integer(v, l, 1, 1_000_000_000); ok {
				ro.MinRequests = m
			}
		}},
		field{"max_mismatch_rate", func(v *yaml.Node, l loc) {
			if x, ok := d.number(v, l, 0, 1); ok {
				ro.MaxMismatchRate = x
			}
		}},
		field{"max_error_rate_delta", func(v *yaml.Node, l loc) {
			if x, ok := d.number(v, l, 0, 1); ok {
				ro.MaxErrorRateDelta = x
			}
		}},
		field{"max_p99_ratio", func(v *yaml.Node, l loc) {
			if x, ok := d.number(v, l, 0.01, 1e6); ok {
				ro.MaxP99Ratio = x
			}
		}},
		field{"on_failure", func(v *yaml.Node, l loc) { enum(d, v, l, &ro.OnFailure, OnFailureRollback, OnFailurePause) }},
		field{"notify", func(v *yaml.Node, l loc) { d.notify(v, l, &ro.Notify) }},
		field{"approve_at", func(v *yaml.Node, l loc) { approve = d.approveAt(v, l) }},
		field{"gates", func(v *yaml.Node, l loc) { d.gates(v, l, &ro.Gates) }},
		field{"complete_when", func(v *yaml.Node, l loc) { ro.CompleteWhen = d.completeWhen(v, l) }},
	)
	if len(ro.Steps) > 0 && !d.failed[l.path+".steps"] { // else steps has its own error
		for _, a := range approve {
			if !slices.Contains(ro.Steps, a.w) {
				d.errorf(a.l, "%s is not one of the steps %s: approve_at names steps that wait for an operator's approval",
					fmtFloat(a.w), fmtSteps(ro.Steps))
				continue
			}
			ro.ApproveAt = append(ro.ApproveAt, a.w)
		}
	}
	if d.present(l.path) && !d.failed[l.path] {
		if len(ro.Steps) == 0 && !d.failed[l.path+".steps"] {
			d.fail(l.path+".steps", "required: the weights to step through, such as [1, 5, 25, 50, 100]")
		}
		r.Rollout = &ro
	}
}

// steps decodes a strictly increasing list of weights in (0, 100].
func (d *decoder) steps(n *yaml.Node, l loc, dst *[]float64) {
	var out []float64
	ok := true
	d.list(n, l, func(item *yaml.Node, il loc) {
		w, good := d.number(item, il, 0, 100)
		switch {
		case !good:
			ok = false
		case w == 0:
			d.errorf(il, "must be greater than 0 (a rollout starts from the route's weight)")
			ok = false
		case len(out) > 0 && w <= out[len(out)-1]:
			d.errorf(il, "must be greater than the step before (%s): steps go up", fmtFloat(out[len(out)-1]))
			ok = false
		default:
			out = append(out, w)
		}
	})
	if ok {
		*dst = out
	} else {
		d.failed[l.path] = true // no second "required" error
	}
}

// notify decodes rollout.notify: a list of {url, format}. The URL is a
// secret, so no error message shows it.
func (d *decoder) notify(n *yaml.Node, l loc, dst *[]RolloutNotify) {
	d.list(n, l, func(item *yaml.Node, il loc) {
		t := RolloutNotify{Format: NotifyJSON}
		if r := d.resolve(item, il); r != nil && r.Kind == yaml.ScalarNode && !isNull(r) {
			// Most likely the bare URL: say what is wanted without quoting it.
			d.errorf(il, "expected a mapping such as {url: https://…, format: slack}, got a string (value not shown: webhook URLs are secrets)")
			return
		}
		d.mapping(item, il,
			field{"url", func(v *yaml.Node, l loc) {
				s, _, ok := d.scalar(v, l, "a string", true)
				if !ok {
					return
				}
				if msg := checkWebhookURL(s); msg != "" {
					d.errorf(l, "%s (value not shown: webhook URLs are secrets)", msg)
					return
				}
				t.URL = SecretURL(s)
			}},
			field{"format", func(v *yaml.Node, l loc) { enum(d, v, l, &t.Format, NotifyJSON, NotifySlack) }},
		)
		if d.failed[il.path] {
			return
		}
		if t.URL == "" && !d.failed[il.path+".url"] {
			d.fail(il.path+".url", "required: the webhook to POST every rollout decision to (http:// or https://)")
		}
		*dst = append(*dst, t)
	})
}

// checkWebhookURL accepts an absolute http(s) URL with a host; unlike
// checkHTTPURL it allows a query, where some webhooks keep their token.
func checkWebhookURL(s string) string {
	const want = "expected an http:// or https:// URL such as https://hooks.slack.com/services/…"
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return want
	}
	if !validHost(u.Hostname()) || (u.Port() != "" && !validPort(u.Port(), 1)) {
		return want + " (bad host or port)"
	}
	if u.Fragment != "" {
		return want + " (without fragment)"
	}
	return ""
}

// weightAt is a weight and where the file gives it.
type weightAt struct {
	w float64
	l loc
}

// approveAt decodes approve_at: weights, each checked against the steps
// by the caller.
func (d *decoder) approveAt(n *yaml.Node, l loc) []weightAt {
	var out []weightAt
	d.list(n, l, func(item *yaml.Node, il loc) {
		if w, ok := d.number(item, il, 0, 100); ok {
			out = append(out, weightAt{w, il})
		}
	})
	return out
}

func fmtSteps(steps []float64) string {
	s := make([]string, len(steps))
	for i, w := range steps {
		s[i] = fmtFloat(w)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// validateRollout checks what spans sections: the controller judges the
// reverse proxy's figures.
func (d *decoder) validateRollout(c *Config) {
	d.validateRolloutData(c)
	if c.Proxy.Mode != ModeForward {
		return
	}
	for i, r := range c.Proxy.Routes {
		if r.Rollout != nil {
			d.fail(fmt.Sprintf("proxy.routes[%d].rollout", i), "rollouts need proxy.mode: reverse")
		}
	}
}
