package config

import (
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ficus-migrate/ficus/shadow/redact"
)

// Decoding of shadow.redact.

func (d *decoder) redact(n *yaml.Node, l loc, c *Redact) {
	d.mapping(n, l,
		field{"headers", func(v *yaml.Node, l loc) { d.strs(v, l, &c.Headers, checkRedactHeader) }},
		field{"params", func(v *yaml.Node, l loc) { d.strs(v, l, &c.Params, checkRedactEntry) }},
		field{"json_keys", func(v *yaml.Node, l loc) { d.strs(v, l, &c.JSONKeys, checkRedactEntry) }},
		field{"key", func(v *yaml.Node, l loc) {
			s, _, ok := d.scalar(v, l, "a string", true)
			switch {
			case !ok:
			case len(s) < minRedactKey:
				d.errorf(l, "must be at least %d characters (value not shown), such as the output of openssl rand -hex 32", minRedactKey)
			default:
				c.Key = Secret(s)
			}
		}},
	)
}

// checkRedactEntry checks the NAME / *PART* syntax of shadow/redact.
func checkRedactEntry(s string) string {
	if err := redact.CheckEntry(s); err != nil {
		return err.Error()
	}
	return ""
}

// checkRedactHeader is checkRedactEntry for header names.
func checkRedactHeader(s string) string {
	if msg := checkHeaderName(strings.Trim(s, "*")); msg != "" {
		return msg
	}
	return checkRedactEntry(s)
}
