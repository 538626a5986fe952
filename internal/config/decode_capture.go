package config

import (
	"time"

	"go.yaml.in/yaml/v3"
)

// standby decodes capture.standby.
func (d *decoder) standby(n *yaml.Node, l loc, c *Standby) {
	d.mapping(n, l,
		field{"lease_ttl", func(v *yaml.Node, l loc) {
			var ttl time.Duration
			d.duration(v, l, &ttl, MinLeaseTTL)
			switch {
			case ttl == 0: // refused above
			case ttl > MaxLeaseTTL:
				d.errorf(l, "must be at most %s (a standby waits this long after a crash), got %s",
					shortDuration(MaxLeaseTTL), shortDuration(ttl))
			default:
				c.LeaseTTL = ttl
			}
		}},
	)
}
