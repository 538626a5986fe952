package config

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// validateAdmin refuses an admin API open to the network. Without a token
// the admin listener takes route changes from anyone who reaches it, which
// is fine on loopback (local development, `make demo`) and nowhere else. An
// empty ${FICUS_ADMIN_TOKEN} is the usual way to get there by accident, so
// it is named in the message.
func (d *decoder) validateAdmin(a *Admin) {
	if a.Token != "" || d.failed["admin.listen"] || d.failed["admin.token"] {
		return
	}
	raw, fromEnv := d.fromEnv["admin.token"]
	if loopbackListen(a.Listen) {
		if fromEnv {
			d.warn("admin.token", "%q expands to an empty token: the admin API takes changes from any local "+
				"process without one (allowed because admin.listen is loopback)", raw)
		}
		return
	}
	listen := d.show("admin.listen", a.Listen)
	const fix = "anyone who can reach the listener could change routes; "
	switch {
	case fromEnv:
		d.fail("admin.token", "%q expands to an empty token, but admin.listen %s is not loopback: %sset %s, or listen on 127.0.0.1",
			raw, listen, fix, strings.Join(envNames(raw), ", "))
	case d.present("admin.token"):
		d.fail("admin.token", "empty, but admin.listen %s is not loopback: %sset a token (token: ${FICUS_ADMIN_TOKEN}), or listen on 127.0.0.1",
			listen, fix)
	default:
		d.fail("admin.listen", "%s is not loopback, so admin.token is required: %sset admin.token (token: ${FICUS_ADMIN_TOKEN}), or listen on 127.0.0.1",
			listen, fix)
	}
}

// loopbackListen reports whether a listen address binds loopback only. A
// name other than localhost counts as not loopback: what it resolves to is
// not known until it is bound, and the safe guess is the network.
func loopbackListen(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil || host == "" {
		return false
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// envNames lists the variables a ${...} text refers to, for "set X".
func envNames(raw string) []string {
	var out []string
	for rest := raw; ; {
		i := strings.Index(rest, "${")
		if i < 0 {
			break
		}
		rest = rest[i+2:]
		end := strings.IndexByte(rest, '}')
		if end < 0 {
			break
		}
		name, _, _ := strings.Cut(rest[:end], ":-")
		out = append(out, name)
		rest = rest[end+1:]
	}
	if len(out) == 0 {
		return []string{"the variable"}
	}
	return out
}

// checkAllowedHost accepts what a Host header can carry: a name or IP,
// optionally with a port, IPv6 in brackets ([::1], [::1]:9901) or bare.
func checkAllowedHost(s string) string {
	if checkHostMatch(s) == "" {
		return ""
	}
	if h, ok := strings.CutPrefix(s, "["); ok && strings.HasSuffix(h, "]") {
		if a, err := netip.ParseAddr(strings.TrimSuffix(h, "]")); err == nil && a.Is6() {
			return ""
		}
	}
	return "expected a host or host:port as a browser sends it in Host, such as ficus.example or ficus.example:9901 (no scheme, no path)"
}

// warn records a problem that does not stop the config from loading,
// positioned like fail. `ficus validate` and the servers print them.
func (d *decoder) warn(path, format string, args ...any) {
	l := d.root
	for p := path; p != ""; p = parentPath(p) {
		if s, ok := d.seen[p]; ok {
			l = s
			break
		}
	}
	d.warns = append(d.warns, &Error{File: d.file, Line: l.line, Column: l.col, Path: path,
		Msg: "warning: " + fmt.Sprintf(format, args...)})
}

// Warnings are the problems found that do not stop the config from loading
// (e.g. an empty admin token on a loopback listener), formatted like Errors.
func (c *Config) Warnings() Errors { return c.warnings }
