package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// This file decodes a route's rollout.gates.

func (d *decoder) gates(n *yaml.Node, l loc, dst *RolloutGates) {
	names := map[string]bool{}
	unique := func(name string, nl loc) {
		if names[name] {
			d.errorf(nl, "duplicate gate name %q: each of a route's gates needs its own", name)
		}
		names[name] = true
	}
	d.mapping(n, l,
		field{"prometheus", func(v *yaml.Node, l loc) {
			d.list(v, l, func(item *yaml.Node, il loc) {
				if g, ok := d.prometheusGate(item, il, unique); ok {
					dst.Prometheus = append(dst.Prometheus, g)
				}
			})
		}},
		field{"webhook", func(v *yaml.Node, l loc) {
			d.list(v, l, func(item *yaml.Node, il loc) {
				if g, ok := d.webhookGate(item, il, unique); ok {
					dst.Webhook = append(dst.Webhook, g)
				}
			})
		}},
		field{"data", func(v *yaml.Node, l loc) {
			d.list(v, l, func(item *yaml.Node, il loc) {
				if g, ok := d.dataGate(item, il, unique); ok {
					dst.Data = append(dst.Data, g)
				}
			})
		}},
	)
}

func (d *decoder) dataGate(n *yaml.Node, l loc, unique func(string, loc)) (DataGate, bool) {
	var g DataGate
	rate := func(dst **float64) func(*yaml.Node, loc) {
		return func(v *yaml.Node, l loc) {
			if x, ok := d.number(v, l, 0, 1); ok {
				*dst = &x
			}
		}
	}
	d.mapping(n, l,
		field{"name", func(v *yaml.Node, l loc) { d.gateName(v, l, &g.Name, unique) }},
		field{"compare", func(v *yaml.Node, l loc) { d.str(v, l, &g.Compare) }},
		field{"max_differ_rate", rate(&g.MaxDifferRate)},
		field{"max_missing_rate", rate(&g.MaxMissingRate)},
		field{"max_behind_seconds", func(v *yaml.Node, l loc) {
			if x, ok := d.number(v, l, 0, 1e9); ok {
				g.MaxBehindSeconds = &x
			}
		}},
		field{"dry_run", func(v *yaml.Node, l loc) { d.boolean(v, l, &g.DryRun) }},
	)
	if d.failed[l.path] || isNull(n) {
		return g, false
	}
	if g.Compare == "" && !d.failed[l.path+".compare"] {
		d.fail(l.path+".compare", "required: the compare_data entry whose figures the gate judges")
	}
	if g.Name == "" && g.Compare != "" {
		g.Name = g.Compare
		unique(g.Name, l)
	}
	if g.MaxDifferRate == nil && g.MaxMissingRate == nil && g.MaxBehindSeconds == nil &&
		!d.failed[l.path+".max_differ_rate"] && !d.failed[l.path+".max_missing_rate"] && !d.failed[l.path+".max_behind_seconds"] {
		d.fail(l.path+".max_differ_rate", "required: max_differ_rate, max_missing_rate or max_behind_seconds, what the gate holds the data to")
	}
	return g, true
}

func (d *decoder) completeWhen(n *yaml.Node, l loc) *CompleteWhen {
	c := CompleteWhen{Timeout: 30 * time.Minute}
	d.mapping(n, l,
		field{"reconcile", func(v *yaml.Node, l loc) { d.str(v, l, &c.Reconcile) }},
		field{"max_differences", func(v *yaml.Node, l loc) {
			if x, ok := d.integer(v, l, 0, 1_000_000_000); ok {
				c.MaxDifferences = x
			}
		}},
		field{"timeout", func(v *yaml.Node, l loc) { d.duration(v, l, &c.Timeout, time.Second) }},
	)
	if d.failed[l.path] || isNull(n) {
		return nil
	}
	if c.Reconcile == "" && !d.failed[l.path+".reconcile"] {
		d.fail(l.path+".reconcile", "required: the compare_data entry the controller reconciles before the last step completes")
	}
	return &c
}

// validateRolloutData checks that the data gates and complete_when name
// compare_data entries that exist.
func (d *decoder) validateRolloutData(c *Config) {
	names := make([]string, len(c.CompareData))
	for i, cd := range c.CompareData {
		names[i] = cd.Name
	}
	known := func(path, name, why string) {
		if name != "" && !slices.Contains(names, name) {
			d.fail(path, "no compare_data entry named %q (configured: %s): %s", name, strings.Join(names, ", "), why)
		}
	}
	for i, r := range c.Proxy.Routes {
		if r.Rollout == nil {
			continue
		}
		base := fmt.Sprintf("proxy.routes[%d].rollout", i)
		for j, g := range r.Rollout.Gates.Data {
			known(fmt.Sprintf("%s.gates.data[%d].compare", base, j), g.Compare, "the gate judges that comparison's figures")
		}
		if cw := r.Rollout.CompleteWhen; cw != nil {
			known(base+".complete_when.reconcile", cw.Reconcile, "the controller reconciles that pair before the rollout completes")
		}
	}
}

func (d *decoder) prometheusGate(n *yaml.Node, l loc, unique func(string, loc)) (PrometheusGate, bool) {
	g := PrometheusGate{OnError: GateOnErrorHold, Timeout: 10 * time.Second}
	d.mapping(n, l,
		field{"name", func(v *yaml.Node, l loc) { d.gateName(v, l, &g.Name, unique) }},
		field{"url", func(v *yaml.Node, l loc) { d.gateURL(v, l, &g.URL) }},
		field{"query", func(v *yaml.Node, l loc) { d.str(v, l, &g.Query) }},
		field{"max", func(v *yaml.Node, l loc) { d.bound(v, l, &g.Max) }},
		field{"min", func(v *yaml.Node, l loc) { d.bound(v, l, &g.Min) }},
		field{"on_error", func(v *yaml.Node, l loc) { enum(d, v, l, &g.OnError, GateOnErrorHold, GateOnErrorFail) }},
		field{"timeout", func(v *yaml.Node, l loc) { d.duration(v, l, &g.Timeout, time.Millisecond) }},
		field{"dry_run", func(v *yaml.Node, l loc) { d.boolean(v, l, &g.DryRun) }},
	)
	if d.failed[l.path] || isNull(n) {
		return g, false
	}
	d.gateRequired(l, g.Name, g.URL, "the Prometheus server, such as http://prometheus:9090")
	if g.Query == "" && !d.failed[l.path+".query"] {
		d.fail(l.path+".query", "required: the PromQL expression whose one sample is held to max or min")
	}
	if g.Max == nil && g.Min == nil && !d.failed[l.path+".max"] && !d.failed[l.path+".min"] {
		d.fail(l.path+".max", "required: max or min, the threshold the query's sample is held to")
	}
	if g.Max != nil && g.Min != nil && *g.Min > *g.Max {
		d.fail(l.path+".min", "must not be above max (%s): no value would pass", fmtFloat(*g.Max))
	}
	return g, true
}

func (d *decoder) webhookGate(n *yaml.Node, l loc, unique func(string, loc)) (WebhookGate, bool) {
	g := WebhookGate{Timeout: 10 * time.Second}
	d.mapping(n, l,
		field{"name", func(v *yaml.Node, l loc) { d.gateName(v, l, &g.Name, unique) }},
		field{"url", func(v *yaml.Node, l loc) { d.gateURL(v, l, &g.URL) }},
		field{"timeout", func(v *yaml.Node, l loc) { d.duration(v, l, &g.Timeout, time.Millisecond) }},
		field{"dry_run", func(v *yaml.Node, l loc) { d.boolean(v, l, &g.DryRun) }},
	)
	if d.failed[l.path] || isNull(n) {
		return g, false
	}
	d.gateRequired(l, g.Name, g.URL, "the receiver to POST each step's figures to (http:// or https://)")
	return g, true
}

func (d *decoder) gateName(v *yaml.Node, l loc, dst *string, unique func(string, loc)) {
	if d.str(v, l, dst) && *dst != "" {
		unique(*dst, l)
	}
}

func (d *decoder) gateURL(v *yaml.Node, l loc, dst *SecretURL) {
	s, _, ok := d.scalar(v, l, "a string", true)
	if !ok {
		return
	}
	if msg := checkWebhookURL(s); msg != "" {
		d.errorf(l, "%s (value not shown: gate URLs may hold credentials)", msg)
		return
	}
	*dst = SecretURL(s)
}

// bound decodes a threshold: any finite number.
func (d *decoder) bound(v *yaml.Node, l loc, dst **float64) {
	if x, ok := d.number(v, l, -1e300, 1e300); ok {
		*dst = &x
	}
}

func (d *decoder) gateRequired(l loc, name string, url SecretURL, what string) {
	if name == "" && !d.failed[l.path+".name"] {
		d.fail(l.path+".name", "required: the gate's name in figures and logs")
	}
	if url == "" && !d.failed[l.path+".url"] {
		d.fail(l.path+".url", "required: %s", what)
	}
}
