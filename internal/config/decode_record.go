package config

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// This file decodes and validates a route's record block.

func (d *decoder) routeRecord(n *yaml.Node, l loc, c *RouteRecord) {
	d.mapping(n, l,
		field{"enabled", func(v *yaml.Node, l loc) { d.boolean(v, l, &c.Enabled) }},
		field{"sample", func(v *yaml.Node, l loc) {
			if s, ok := d.number(v, l, 0, 1); ok {
				c.Sample = s
			}
		}},
		field{"max_body_bytes", func(v *yaml.Node, l loc) { d.size(v, l, &c.MaxBodyBytes, false) }},
		field{"methods", func(v *yaml.Node, l loc) { d.strs(v, l, &c.Methods, checkMethod) }},
		field{"max_age", func(v *yaml.Node, l loc) { d.duration(v, l, &c.MaxAge, 1) }},
		field{"max_bytes", func(v *yaml.Node, l loc) { d.size(v, l, &c.MaxBytes, false) }},
		field{"max_per_second", func(v *yaml.Node, l loc) {
			if s, ok := d.number(v, l, 0, 1e9); ok {
				c.MaxPerSecond = s
			}
		}},
	)
}

func (d *decoder) validateRecord(c *Config) {
	for i, r := range c.Proxy.Routes {
		if r.Record.Enabled && c.Proxy.Mode == ModeForward {
			d.fail(fmt.Sprintf("proxy.routes[%d].record.enabled", i), "recording needs proxy.mode: reverse")
		}
		if r.Record.Enabled && len(r.Record.Methods) == 0 {
			d.fail(fmt.Sprintf("proxy.routes[%d].record.methods", i), "must list at least one method")
		}
	}
}
