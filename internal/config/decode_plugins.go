package config

import (
	"fmt"
	"regexp"

	"go.yaml.in/yaml/v3"
)

// This file decodes and validates the plugins section and the keys that
// name plugins (capture.sources[].transforms, proxy.routes[].compare.plugin).

var (
	pluginNameRe = regexp.MustCompile(`^[a-z0-9_-]+$`)
	sha256Re     = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
	envNameRe    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

func (d *decoder) plugins(n *yaml.Node, l loc, dst *[]Plugin) {
	d.list(n, l, func(item *yaml.Node, il loc) {
		p := defaultPlugin()
		d.mapping(item, il,
			field{"name", func(v *yaml.Node, l loc) {
				d.checked(v, l, &p.Name, reCheck(pluginNameRe, "expected a name matching [a-z0-9_-]+"))
			}},
			field{"path", func(v *yaml.Node, l loc) { d.str(v, l, &p.Path) }},
			field{"args", func(v *yaml.Node, l loc) { d.args(v, l, &p.Args) }},
			field{"env", func(v *yaml.Node, l loc) { p.Env = d.envMap(v, l) }},
			field{"sha256", func(v *yaml.Node, l loc) {
				d.checked(v, l, &p.SHA256, reCheck(sha256Re, "expected 64 hex digits"))
			}},
			field{"timeout", func(v *yaml.Node, l loc) { d.duration(v, l, &p.Timeout, 1) }},
		)
		*dst = append(*dst, p)
	})
}

// args decodes a list of strings; unlike strs, empty and repeated
// arguments are legitimate.
func (d *decoder) args(n *yaml.Node, l loc, dst *[]string) {
	var out []string
	d.list(n, l, func(item *yaml.Node, il loc) {
		if s, _, ok := d.scalar(item, il, "a string", false); ok {
			out = append(out, s)
		} else if !d.failed[il.path] {
			out = append(out, "")
		}
	})
	*dst = out
}

func (d *decoder) envMap(n *yaml.Node, l loc) map[string]Secret {
	n = d.resolve(n, l)
	if n == nil || isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(l, "expected a mapping of variable names to values, got %s", describe(n))
		return nil
	}
	out := map[string]Secret{}
	for _, e := range d.entries(n, l) {
		kl := l.key(e.key, e.k)
		d.seen[kl.path] = kl
		if !envNameRe.MatchString(e.key) {
			d.errorf(kl, "expected an environment variable name matching [A-Za-z_][A-Za-z0-9_]*")
			continue
		}
		if v := d.resolve(e.v, kl); v != nil && isNull(v) {
			d.errorf(kl, "expected a string, got null")
			continue
		}
		if s, _, ok := d.scalar(e.v, kl, "a string", true); ok {
			out[e.key] = Secret(s)
		}
	}
	return out
}

func (d *decoder) validatePlugins(c *Config) {
	names := map[string]int{}
	for i, p := range c.Plugins {
		base := fmt.Sprintf("plugins[%d]", i)
		switch j, dup := names[p.Name]; {
		case p.Name == "":
			d.fail(base+".name", "required")
		case dup:
			d.fail(base+".name", "duplicate plugin name %q (also plugins[%d])", p.Name, j)
		default:
			names[p.Name] = i
		}
		if p.Path == "" {
			d.fail(base+".path", "required: the plugin executable")
		}
	}
	known := func(path, name string) {
		if _, ok := names[name]; !ok && name != "" {
			d.fail(path, "no plugin named %q in plugins", name)
		}
	}
	for i, s := range c.Capture.Sources {
		for j, t := range s.Transforms {
			known(fmt.Sprintf("capture.sources[%d].transforms[%d]", i, j), t)
		}
	}
	for i, r := range c.Proxy.Routes {
		if r.Compare.Plugin == "" {
			continue
		}
		path := fmt.Sprintf("proxy.routes[%d].compare.plugin", i)
		known(path, r.Compare.Plugin)
		if !r.Shadow.Enabled {
			d.fail(path, "needs shadow.enabled: true on this route (comparators run on mirrored traffic)")
		}
	}
	for i, cd := range c.CompareData {
		known(fmt.Sprintf("compare_data[%d].plugin", i), cd.Plugin)
	}
}
