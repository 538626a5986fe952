package config

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ficus-migrate/ficus/shadow/traffic/diff"
)

// This file decodes and validates the shadow keys: the top-level shadow
// section and the shadow, compare and noise blocks of a route.

func (d *decoder) shadow(n *yaml.Node, l loc, c *Shadow) {
	d.mapping(n, l,
		field{"workers", func(v *yaml.Node, l loc) {
			if w, ok := d.integer(v, l, 1, 4096); ok {
				c.Workers = int(w)
			}
		}},
		field{"queue", func(v *yaml.Node, l loc) {
			if q, ok := d.integer(v, l, 1, 1_000_000); ok {
				c.Queue = int(q)
			}
		}},
		field{"queue_bytes", func(v *yaml.Node, l loc) { d.size(v, l, &c.QueueBytes, false) }},
		field{"redact_headers", func(v *yaml.Node, l loc) { d.strs(v, l, &c.RedactHeaders, checkRedactHeader) }},
		field{"redact", func(v *yaml.Node, l loc) { d.redact(v, l, &c.Redact) }},
		field{"record_body_bytes", func(v *yaml.Node, l loc) { d.size(v, l, &c.RecordBodyBytes, false) }},
		field{"max_age", func(v *yaml.Node, l loc) { d.duration(v, l, &c.MaxAge, 0) }},
	)
}

func (d *decoder) routeShadow(n *yaml.Node, l loc, c *RouteShadow) {
	d.mapping(n, l,
		field{"enabled", func(v *yaml.Node, l loc) { d.boolean(v, l, &c.Enabled) }},
		field{"sample", func(v *yaml.Node, l loc) {
			if s, ok := d.number(v, l, 0, 1); ok {
				c.Sample = s
			}
		}},
		field{"unsafe_methods", func(v *yaml.Node, l loc) { d.boolean(v, l, &c.UnsafeMethods) }},
		field{"max_body_bytes", func(v *yaml.Node, l loc) { d.size(v, l, &c.MaxBodyBytes, false) }},
		field{"timeout", func(v *yaml.Node, l loc) { d.duration(v, l, &c.Timeout, 1) }},
	)
}

func (d *decoder) compare(n *yaml.Node, l loc, c *Compare) {
	d.mapping(n, l,
		field{"ignore", func(v *yaml.Node, l loc) { d.strs(v, l, &c.Ignore, checkIgnorePath) }},
		field{"headers", func(v *yaml.Node, l loc) { d.strs(v, l, &c.Headers, checkHeaderName) }},
		field{"unordered", func(v *yaml.Node, l loc) { d.strs(v, l, &c.Unordered, checkJSONPath) }},
		field{"numeric_tolerance", func(v *yaml.Node, l loc) {
			if t, ok := d.number(v, l, 0, 1e9); ok {
				c.NumericTolerance = t
			}
		}},
		field{"plugin", func(v *yaml.Node, l loc) {
			d.checked(v, l, &c.Plugin, reCheck(pluginNameRe, "expected a plugin name matching [a-z0-9_-]+"))
		}},
	)
}

func (d *decoder) noise(n *yaml.Node, l loc, c *Noise) {
	d.mapping(n, l,
		field{"second_legacy", func(v *yaml.Node, l loc) { d.checked(v, l, &c.SecondLegacy, checkHTTPURL) }},
		field{"sample", func(v *yaml.Node, l loc) {
			if s, ok := d.number(v, l, 0, 1); ok {
				c.Sample = s
			}
		}},
		field{"min_samples", func(v *yaml.Node, l loc) {
			if m, ok := d.integer(v, l, 1, 1_000_000); ok {
				c.MinSamples = int(m)
			}
		}},
		field{"relative_threshold", func(v *yaml.Node, l loc) {
			if t, ok := d.number(v, l, 1, 1e6); ok {
				c.RelativeThreshold = t
			}
		}},
		field{"absolute_threshold", func(v *yaml.Node, l loc) {
			if t, ok := d.number(v, l, 0, 1); ok {
				c.AbsoluteThreshold = t
			}
		}},
	)
}

const jsonPathWant = `expected a JSON path such as $.items[*].price (segments .key, [n], [*], .*)`

// checkJSONPath is the cheap syntax check of a comparison path; the
// comparator's own compile (see validateShadowRoute) has the last word.
func checkJSONPath(s string) string {
	if !strings.HasPrefix(s, "$") {
		return jsonPathWant
	}
	rest := s[1:]
	for rest != "" {
		switch rest[0] {
		case '.':
			end := strings.IndexAny(rest[1:], ".[")
			if end < 0 {
				end = len(rest) - 1
			}
			key := rest[1 : 1+end]
			if key == "" || strings.ContainsAny(key, "]") {
				return jsonPathWant
			}
			rest = rest[1+end:]
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return jsonPathWant
			}
			idx := rest[1:end]
			if idx != "*" && (idx == "" || strings.Trim(idx, "0123456789") != "") {
				return jsonPathWant
			}
			rest = rest[end+1:]
		default:
			return jsonPathWant
		}
	}
	return ""
}

func checkIgnorePath(s string) string {
	if name, ok := strings.CutPrefix(s, "header:"); ok {
		if !isToken(name) {
			return "expected header:NAME with an HTTP header name"
		}
		return ""
	}
	if msg := checkJSONPath(s); msg != "" {
		return jsonPathWant + " or header:NAME"
	}
	return ""
}

// validateShadowRoute checks what spans keys of one route's shadow blocks.
func (d *decoder) validateShadowRoute(base string, r *Route) {
	if !r.Shadow.Enabled {
		return
	}
	if _, err := diff.Compile(r.CompareRules()); err != nil && !d.failed[base+".compare"] {
		d.fail(base+".compare", "%v", err)
	}
}

func (d *decoder) validateShadow(c *Config) {
	for i := range c.Proxy.Routes {
		d.validateShadowRoute(fmt.Sprintf("proxy.routes[%d]", i), &c.Proxy.Routes[i])
	}
	if c.Proxy.ShadowEnabled() && c.Proxy.Mode == ModeForward {
		for i, r := range c.Proxy.Routes {
			if r.Shadow.Enabled {
				d.fail(fmt.Sprintf("proxy.routes[%d].shadow.enabled", i), "shadow traffic needs proxy.mode: reverse")
			}
		}
	}
}

// CompareRules returns the route's comparison rules in the comparator's terms.
func (r Route) CompareRules() diff.Rules {
	return diff.Rules{
		Ignore:           r.Compare.Ignore,
		Headers:          r.Compare.Headers,
		Unordered:        r.Compare.Unordered,
		NumericTolerance: r.Compare.NumericTolerance,
	}
}
