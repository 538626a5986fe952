package config

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

func (d *decoder) forward(n *yaml.Node, l loc, c *Forward) {
	d.mapping(n, l,
		field{"allow", func(v *yaml.Node, l loc) {
			d.list(v, l, func(item *yaml.Node, il loc) {
				var r AllowRule
				d.mapping(item, il,
					field{"host", func(v *yaml.Node, l loc) { d.checked(v, l, &r.Host, checkAllowHost) }},
					field{"ports", func(v *yaml.Node, l loc) {
						d.list(v, l, func(item *yaml.Node, il loc) {
							if p, ok := d.integer(item, il, 1, 65535); ok {
								r.Ports = append(r.Ports, int(p))
							}
						})
					}},
				)
				c.Allow = append(c.Allow, r)
			})
		}},
	)
}

// checkAllowHost accepts a host name, an IP address, *.domain or *.
func checkAllowHost(s string) string {
	if s == "*" {
		return ""
	}
	if rest, ok := strings.CutPrefix(s, "*."); ok {
		s = rest
	}
	if !validHost(s) {
		return "expected a host name, an IP address (without brackets or port), *.domain or *"
	}
	return ""
}

func (d *decoder) validateForward(p *Proxy) {
	if len(p.Forward.Allow) > 0 && p.Mode != ModeForward {
		d.fail("proxy.forward", "only valid in forward mode (proxy.mode: forward)")
		return
	}
	for i, r := range p.Forward.Allow {
		if base := fmt.Sprintf("proxy.forward.allow[%d]", i); r.Host == "" && !d.failed[base+".host"] {
			d.fail(base+".host", "required: a host name, an IP address, *.domain or *")
		}
	}
}
