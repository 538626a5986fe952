package config

import (
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// This file maps each key of the schema to its decoder. Checks that need
// only the value itself live here; checks across keys are in validate.go.

func (d *decoder) config(n *yaml.Node, root loc, c *Config) {
	d.mapping(n, root,
		field{"log", func(v *yaml.Node, l loc) { d.log(v, l, &c.Log) }},
		field{"nats", func(v *yaml.Node, l loc) { d.nats(v, l, &c.NATS) }},
		field{"admin", func(v *yaml.Node, l loc) { d.admin(v, l, &c.Admin) }},
		field{"proxy", func(v *yaml.Node, l loc) { d.proxy(v, l, &c.Proxy) }},
		field{"capture", func(v *yaml.Node, l loc) { d.capture(v, l, &c.Capture) }},
		field{"shadow", func(v *yaml.Node, l loc) { d.shadow(v, l, &c.Shadow) }},
		field{"compare_data", func(v *yaml.Node, l loc) { d.compareData(v, l, &c.CompareData) }},
		field{"plugins", func(v *yaml.Node, l loc) { d.plugins(v, l, &c.Plugins) }},
		field{"data_dir", func(v *yaml.Node, l loc) { d.nonEmpty(v, l, &c.DataDir, nil) }},
	)
}

func (d *decoder) log(n *yaml.Node, l loc, c *Log) {
	d.mapping(n, l,
		field{"level", func(v *yaml.Node, l loc) {
			enum(d, v, l, &c.Level, LevelDebug, LevelInfo, LevelWarn, LevelError)
		}},
		field{"format", func(v *yaml.Node, l loc) { enum(d, v, l, &c.Format, FormatText, FormatJSON) }},
	)
}

func (d *decoder) nats(n *yaml.Node, l loc, c *NATS) {
	d.mapping(n, l,
		field{"url", func(v *yaml.Node, l loc) { c.URLs = d.natsURLs(v, l) }},
		field{"credentials", func(v *yaml.Node, l loc) {
			if s, _, ok := d.scalar(v, l, "a string", true); ok {
				c.Credentials = s
			}
		}},
		field{"tls", func(v *yaml.Node, l loc) {
			d.mapping(v, l,
				field{"ca", func(v *yaml.Node, l loc) { d.str(v, l, &c.TLS.CA) }},
				field{"cert", func(v *yaml.Node, l loc) { d.str(v, l, &c.TLS.Cert) }},
				field{"key", func(v *yaml.Node, l loc) { d.str(v, l, &c.TLS.Key) }},
			)
		}},
		field{"name", func(v *yaml.Node, l loc) { d.str(v, l, &c.Name) }},
		field{"embedded", func(v *yaml.Node, l loc) { d.embedded(v, l, &c.Embedded) }},
	)
}

// natsURLs accepts a string (comma-separated URLs allowed) or a list.
func (d *decoder) natsURLs(n *yaml.Node, l loc) []DSN {
	var out []DSN
	add := func(s, raw string, l loc) {
		for part := range strings.SplitSeq(s, ",") {
			part = strings.TrimSpace(part)
			if msg := checkNATSURL(part); msg != "" {
				shown := strconv.Quote(maskUserinfo(part))
				if s != raw {
					shown = got(s, raw)
				}
				d.errorf(l, "%s, got %s", msg, shown)
				continue
			}
			if !strings.Contains(part, "://") {
				part = "nats://" + part
			}
			out = append(out, DSN(part))
		}
	}
	if r := d.resolve(n, l); r != nil && r.Kind == yaml.SequenceNode {
		d.list(r, l, func(item *yaml.Node, il loc) {
			if s, raw, ok := d.scalar(item, il, "a string", true); ok {
				add(s, raw, il)
			} else if !d.failed[il.path] {
				d.errorf(il, "must not be empty")
			}
		})
		return out
	}
	if s, raw, ok := d.scalar(n, l, "a string or a list of strings", true); ok && s != "" {
		add(s, raw, l)
	}
	return out
}

func (d *decoder) embedded(n *yaml.Node, l loc, c *Embedded) {
	d.mapping(n, l,
		field{"listen", func(v *yaml.Node, l loc) { d.nonEmpty(v, l, &c.Listen, listenCheck(true)) }},
		field{"store_dir", func(v *yaml.Node, l loc) { d.nonEmpty(v, l, &c.StoreDir, nil) }},
		field{"sync_interval", func(v *yaml.Node, l loc) {
			s, raw, ok := d.scalar(v, l, "a duration or \"always\"", false)
			switch {
			case !ok:
			case s == "always":
				c.SyncAlways, c.SyncInterval = true, 0
			default:
				c.SyncAlways = false
				d.durationText(s, raw, l, &c.SyncInterval, time.Nanosecond)
			}
		}},
		field{"auth", func(v *yaml.Node, l loc) { d.embeddedAuth(v, l, &c.Auth) }},
		field{"tls", func(v *yaml.Node, l loc) { d.embeddedTLS(v, l, &c.TLS) }},
	)
}

// nonEmpty decodes a string that may be omitted (keeping the default) but
// not given as "", and that must pass check if check is not nil.
func (d *decoder) nonEmpty(n *yaml.Node, l loc, dst *string, check func(string) string) {
	s, raw, ok := d.scalar(n, l, "a string", false)
	switch {
	case !ok:
	case s == "":
		d.errorf(l, "must not be empty")
	default:
		d.checkText(s, raw, l, dst, check)
	}
}

func (d *decoder) admin(n *yaml.Node, l loc, c *Admin) {
	d.mapping(n, l,
		field{"listen", func(v *yaml.Node, l loc) { d.nonEmpty(v, l, &c.Listen, listenCheck(false)) }},
		field{"token", func(v *yaml.Node, l loc) {
			if s, _, ok := d.scalar(v, l, "a string", true); ok {
				c.Token = Secret(s)
			}
		}},
		field{"allowed_hosts", func(v *yaml.Node, l loc) { d.strs(v, l, &c.AllowedHosts, checkAllowedHost) }},
	)
}

func (d *decoder) proxy(n *yaml.Node, l loc, c *Proxy) {
	d.mapping(n, l,
		field{"listen", func(v *yaml.Node, l loc) { d.checked(v, l, &c.Listen, listenCheck(false)) }},
		field{"mode", func(v *yaml.Node, l loc) { enum(d, v, l, &c.Mode, ModeReverse, ModeForward) }},
		field{"legacy", func(v *yaml.Node, l loc) { d.checked(v, l, &c.Legacy, checkHTTPURL) }},
		field{"served_by_header", func(v *yaml.Node, l loc) { d.boolean(v, l, &c.ServedByHeader) }},
		field{"max_header_bytes", func(v *yaml.Node, l loc) { d.size(v, l, &c.MaxHeaderBytes, false) }},
		field{"timeouts", func(v *yaml.Node, l loc) { d.proxyTimeouts(v, l, &c.Timeouts) }},
		field{"max_request_body_bytes", func(v *yaml.Node, l loc) { d.size(v, l, &c.MaxRequestBodyBytes, true) }},
		field{"request_buffer_bytes", func(v *yaml.Node, l loc) { d.size(v, l, &c.RequestBufferBytes, false) }},
		field{"mitm", func(v *yaml.Node, l loc) {
			d.mapping(v, l,
				field{"ca_cert", func(v *yaml.Node, l loc) { d.nonEmpty(v, l, &c.MITM.CACert, nil) }},
				field{"ca_key", func(v *yaml.Node, l loc) { d.nonEmpty(v, l, &c.MITM.CAKey, nil) }},
				field{"hosts", func(v *yaml.Node, l loc) { d.strs(v, l, &c.MITM.Hosts, checkMITMHost) }},
			)
		}},
		field{"forward", func(v *yaml.Node, l loc) { d.forward(v, l, &c.Forward) }},
		field{"routes", func(v *yaml.Node, l loc) {
			d.list(v, l, func(item *yaml.Node, il loc) {
				r := defaultRoute()
				d.route(item, il, &r)
				c.Routes = append(c.Routes, r)
			})
		}},
	)
}

func (d *decoder) timeouts(n *yaml.Node, l loc, c *Timeouts, more ...field) {
	d.mapping(n, l, append([]field{
		{"connect", func(v *yaml.Node, l loc) { d.duration(v, l, &c.Connect, time.Nanosecond) }},
		{"response_header", func(v *yaml.Node, l loc) { d.duration(v, l, &c.ResponseHeader, time.Nanosecond) }},
		{"idle", func(v *yaml.Node, l loc) { d.duration(v, l, &c.Idle, time.Nanosecond) }},
	}, more...)...)
}

// proxyTimeouts adds the client limits, which only proxy.timeouts has.
func (d *decoder) proxyTimeouts(n *yaml.Node, l loc, c *ProxyTimeouts) {
	cl := &c.ClientLimits
	d.timeouts(n, l, &c.Timeouts,
		field{"client_header", func(v *yaml.Node, l loc) { d.duration(v, l, &cl.ClientHeader, time.Nanosecond) }},
		field{"client_body", func(v *yaml.Node, l loc) { d.duration(v, l, &cl.ClientBody, time.Nanosecond) }},
		field{"client_idle", func(v *yaml.Node, l loc) { d.duration(v, l, &cl.ClientIdle, time.Nanosecond) }},
		field{"upstream_response_header_bytes", func(v *yaml.Node, l loc) {
			d.size(v, l, &cl.UpstreamResponseHeaderBytes, false)
		}},
	)
}

func (d *decoder) route(n *yaml.Node, l loc, r *Route) {
	d.mapping(n, l,
		field{"name", func(v *yaml.Node, l loc) {
			d.checked(v, l, &r.Name, reCheck(routeNameRe, "expected a name matching [a-z0-9][a-z0-9_.-]*"))
		}},
		field{"match", func(v *yaml.Node, l loc) { d.match(v, l, &r.Match) }},
		field{"new", func(v *yaml.Node, l loc) { d.checked(v, l, &r.New, checkHTTPURL) }},
		field{"weight", func(v *yaml.Node, l loc) {
			if w, ok := d.number(v, l, 0, 100); ok {
				r.Weight = w
			}
		}},
		field{"sticky", func(v *yaml.Node, l loc) { d.sticky(v, l, &r.Sticky) }},
		field{"pin_new", func(v *yaml.Node, l loc) { d.strs(v, l, &r.PinNew, nil) }},
		field{"strip_prefix", func(v *yaml.Node, l loc) { d.checked(v, l, &r.StripPrefix, checkPathPrefix) }},
		field{"add_prefix", func(v *yaml.Node, l loc) { d.checked(v, l, &r.AddPrefix, checkPathPrefix) }},
		field{"timeouts", func(v *yaml.Node, l loc) { d.timeouts(v, l, &r.Timeouts) }},
		field{"shadow", func(v *yaml.Node, l loc) { d.routeShadow(v, l, &r.Shadow) }},
		field{"compare", func(v *yaml.Node, l loc) { d.compare(v, l, &r.Compare) }},
		field{"noise", func(v *yaml.Node, l loc) { d.noise(v, l, &r.Noise) }},
		field{"record", func(v *yaml.Node, l loc) { d.routeRecord(v, l, &r.Record) }},
		field{"rollout", func(v *yaml.Node, l loc) { d.rollout(v, l, r) }},
	)
}

func (d *decoder) match(n *yaml.Node, l loc, m *Match) {
	d.mapping(n, l,
		field{"path_prefix", func(v *yaml.Node, l loc) { d.checked(v, l, &m.PathPrefix, checkPathPrefix) }},
		field{"path", func(v *yaml.Node, l loc) { d.checked(v, l, &m.Path, checkPathPrefix) }},
		field{"path_regex", func(v *yaml.Node, l loc) {
			var s string
			if !d.str(v, l, &s) || s == "" {
				return
			}
			if _, err := regexp.Compile(s); err != nil {
				d.errorf(l, "invalid regular expression: %v", err)
				return
			}
			m.PathRegex = s
		}},
		field{"methods", func(v *yaml.Node, l loc) { d.strs(v, l, &m.Methods, checkMethod) }},
		field{"host", func(v *yaml.Node, l loc) { d.checked(v, l, &m.Host, checkHostMatch) }},
		field{"headers", func(v *yaml.Node, l loc) { m.Headers = d.headers(v, l) }},
	)
}

// headers decodes a name -> value map; names are case-insensitive, so
// X-Tenant and x-tenant are duplicates.
func (d *decoder) headers(n *yaml.Node, l loc) map[string]string {
	n = d.resolve(n, l)
	if n == nil || isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(l, "expected a mapping of header name to value, got %s", describe(n))
		return nil
	}
	out := map[string]string{}
	first := map[string]string{}
	for _, e := range d.entries(n, l) {
		kl := l.key(e.key, e.k)
		d.seen[kl.path] = kl
		canon := http.CanonicalHeaderKey(e.key)
		if msg := checkHeaderName(e.key); msg != "" {
			d.errorf(kl, "%s, got %q", msg, e.key)
			continue
		}
		if prev, dup := first[canon]; dup {
			d.errorf(kl, "duplicate header (same as %q; names are case-insensitive)", prev)
			continue
		}
		first[canon] = e.key
		s, raw, ok := d.scalar(e.v, kl, "a string", false)
		if !ok {
			if !d.failed[kl.path] {
				d.errorf(kl, "expected a header value, got null (use \"\" for an empty value)")
			}
			continue
		}
		if strings.ContainsAny(s, "\r\n\x00") {
			d.errorf(kl, "header values cannot contain CR, LF or NUL, got %s", got(s, raw))
			continue
		}
		out[e.key] = s
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func (d *decoder) sticky(n *yaml.Node, l loc, st *Sticky) {
	s, raw, ok := d.scalar(n, l, "a string", false)
	if !ok {
		return
	}
	const want = "expected none, header:NAME, cookie:NAME or query:NAME"
	if s == string(StickyNone) {
		*st = Sticky{Kind: StickyNone}
		return
	}
	kind, name, found := strings.Cut(s, ":")
	switch k := StickyKind(kind); {
	case !found || name == "":
	case k == StickyHeader || k == StickyCookie:
		if isToken(name) {
			*st = Sticky{Kind: k, Name: name}
			return
		}
	case k == StickyQuery:
		*st = Sticky{Kind: k, Name: name}
		return
	}
	d.errorf(l, "%s, got %s", want, got(s, raw))
}

func (d *decoder) capture(n *yaml.Node, l loc, c *Capture) {
	d.mapping(n, l,
		field{"subject_prefix", func(v *yaml.Node, l loc) { d.checked(v, l, &c.SubjectPrefix, checkSubject) }},
		field{"stream", func(v *yaml.Node, l loc) { d.stream(v, l, &c.Stream) }},
		field{"standby", func(v *yaml.Node, l loc) { d.standby(v, l, &c.Standby) }},
		field{"mask_secret", func(v *yaml.Node, l loc) { d.maskSecret(v, l, &c.MaskSecret) }},
		field{"sources", func(v *yaml.Node, l loc) {
			d.list(v, l, func(item *yaml.Node, il loc) {
				s := defaultSource()
				d.source(item, il, &s)
				c.Sources = append(c.Sources, s)
			})
		}},
	)
}

func (d *decoder) stream(n *yaml.Node, l loc, c *Stream) {
	d.mapping(n, l,
		field{"replicas", func(v *yaml.Node, l loc) {
			if r, ok := d.integer(v, l, 1, 5); ok {
				c.Replicas = int(r)
			}
		}},
		field{"max_age", func(v *yaml.Node, l loc) { d.duration(v, l, &c.MaxAge, 0) }},
		field{"max_bytes", func(v *yaml.Node, l loc) { d.size(v, l, &c.MaxBytes, true) }},
		field{"duplicate_window", func(v *yaml.Node, l loc) {
			d.duration(v, l, &c.DuplicateWindow, MinDuplicateWindow)
		}},
	)
}

func (d *decoder) source(n *yaml.Node, l loc, s *Source) {
	pgName := reCheck(pgNameRe, "expected a name matching [a-z0-9_]{1,63}")
	d.mapping(n, l,
		field{"name", func(v *yaml.Node, l loc) {
			d.checked(v, l, &s.Name, reCheck(sourceNameRe, "expected a name matching [a-z0-9_-]+"))
		}},
		field{"type", func(v *yaml.Node, l loc) { enum(d, v, l, &s.Type, SourcePostgres, SourceMySQL) }},
		field{"dsn", func(v *yaml.Node, l loc) {
			if str, _, ok := d.scalar(v, l, "a string", true); ok {
				s.DSN = DSN(str)
			}
		}},
		field{"tables", func(v *yaml.Node, l loc) { d.tables(v, l, &s.Tables) }},
		field{"slot", func(v *yaml.Node, l loc) { d.checked(v, l, &s.Slot, pgName) }},
		field{"publication", func(v *yaml.Node, l loc) { d.checked(v, l, &s.Publication, pgName) }},
		field{"snapshot", func(v *yaml.Node, l loc) { enum(d, v, l, &s.Snapshot, SnapshotInitial, SnapshotNever) }},
		field{"server_id", func(v *yaml.Node, l loc) {
			if id, ok := d.integer(v, l, 1, math.MaxUint32); ok {
				s.ServerID = uint32(id)
			}
		}},
		field{"transforms", func(v *yaml.Node, l loc) { d.strs(v, l, &s.Transforms, nil) }},
		field{"decimal_handling", func(v *yaml.Node, l loc) { enum(d, v, l, &s.DecimalHandling, DecimalString, DecimalNumber) }},
		field{"tinyint1_handling", func(v *yaml.Node, l loc) {
			enum(d, v, l, &s.Tinyint1Handling, Tinyint1Number, Tinyint1Boolean)
		}},
		field{"signal_table", func(v *yaml.Node, l loc) {
			d.checked(v, l, &s.SignalTable, reCheck(signalTableRe, "expected a table name, table or schema.table, of letters, digits and _ (at most 64 each)"))
		}},
	)
}
