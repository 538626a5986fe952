package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

// validate runs the checks that involve more than one key, and fills in the
// defaults that depend on other keys.
func (d *decoder) validate(c *Config) {
	d.validateNATS(&c.NATS)
	d.validateProxy(&c.Proxy)
	d.validateCapture(&c.Capture)
	d.validateShadow(c)
	d.validateRecord(c)
	d.validateCompareData(c)
	d.validateMasks(c)
	d.validateRollout(c)
	d.validatePlugins(c)
	d.validateListeners(c)
	d.validateAdmin(&c.Admin)
}

// fail reports a problem at path, positioned at path's key or, when the key
// is absent, at its nearest present parent. A path under one that already
// has an error is skipped: its value is unknown, so more errors would only
// be noise.
func (d *decoder) fail(path, format string, args ...any) {
	for p := path; p != ""; p = parentPath(p) {
		if d.failed[p] {
			return
		}
	}
	l := d.root
	for p := path; p != ""; p = parentPath(p) {
		if s, ok := d.seen[p]; ok {
			l = s
			break
		}
	}
	l.path = path
	d.errorf(l, format, args...)
}

func parentPath(p string) string {
	i := max(strings.LastIndexByte(p, '.'), strings.LastIndexByte(p, '['))
	if i < 0 {
		return ""
	}
	return p[:i]
}

func (d *decoder) present(path string) bool {
	_, ok := d.seen[path]
	return ok
}

func (d *decoder) validateNATS(n *NATS) {
	if (n.TLS.Cert == "") != (n.TLS.Key == "") {
		if n.TLS.Cert != "" {
			d.fail("nats.tls.cert", "requires key: cert and key must be given together")
		} else {
			d.fail("nats.tls.key", "requires cert: cert and key must be given together")
		}
	}
	d.validateEmbedded(&n.Embedded)
}

func (d *decoder) validateProxy(p *Proxy) {
	if p.Enabled() && p.Listen == "" {
		p.Listen = DefaultProxyListen
	}
	if p.Enabled() && p.Mode == ModeReverse && p.Legacy == "" {
		d.fail("proxy.legacy", "required in reverse mode: the base URL of the legacy service")
	}
	d.validateForward(p)
	m := p.MITM
	switch {
	case (m.CACert != "" || m.CAKey != "" || len(m.Hosts) > 0) && p.Mode != ModeForward:
		d.fail("proxy.mitm", "only valid in forward mode (proxy.mode: forward)")
	case (m.CACert == "") != (m.CAKey == ""):
		if m.CACert != "" {
			d.fail("proxy.mitm.ca_cert", "requires ca_key: ca_cert and ca_key must be given together")
		} else {
			d.fail("proxy.mitm.ca_key", "requires ca_cert: ca_cert and ca_key must be given together")
		}
	case m.CACert != "" && len(m.Hosts) == 0:
		d.fail("proxy.mitm.hosts", "required when ca_cert is set: list the hosts to intercept")
	case m.CACert == "" && len(m.Hosts) > 0:
		d.fail("proxy.mitm.hosts", "requires ca_cert and ca_key")
	}

	names := map[string]int{}
	for i := range p.Routes {
		r := &p.Routes[i]
		base := fmt.Sprintf("proxy.routes[%d]", i)
		switch j, dup := names[r.Name]; {
		case r.Name == "":
			d.fail(base+".name", "required")
		case dup:
			d.fail(base+".name", "duplicate route name %s (also proxy.routes[%d])", d.show(base+".name", r.Name), j)
		default:
			names[r.Name] = i
		}
		if r.New == "" {
			d.fail(base+".new", "required: the base URL of the new service")
		}
		d.onePathMatcher(base+".match", r.Match)
		if len(r.PinNew) > 0 && r.Sticky.Kind == StickyNone {
			d.fail(base+".pin_new", "only valid when sticky is header:NAME, cookie:NAME or query:NAME")
		}
		r.Timeouts = r.Timeouts.orDefault(p.Timeouts.Timeouts)
	}
}

// onePathMatcher reports every path matcher after the first one in the file.
func (d *decoder) onePathMatcher(base string, m Match) {
	var set []string
	for _, k := range []struct {
		name, val string
	}{{"path_prefix", m.PathPrefix}, {"path", m.Path}, {"path_regex", m.PathRegex}} {
		if k.val != "" {
			set = append(set, k.name)
		}
	}
	if len(set) < 2 {
		return
	}
	first := set[0]
	for _, k := range set[1:] {
		if d.before(base+"."+k, base+"."+first) {
			first = k
		}
	}
	for _, k := range set {
		if k != first {
			d.fail(base+"."+k, "conflicts with %s: give at most one of path_prefix, path, path_regex", first)
		}
	}
}

// before reports whether the key at path a comes before the one at b.
func (d *decoder) before(a, b string) bool {
	la, lb := d.seen[a], d.seen[b]
	return la.line < lb.line || (la.line == lb.line && la.col < lb.col)
}

func (d *decoder) validateCapture(c *Capture) {
	if w, age := c.Stream.DuplicateWindow, c.Stream.MaxAge; age > 0 && w > age {
		path := "capture.stream.duplicate_window"
		if !d.present(path) {
			path = "capture.stream.max_age"
		}
		d.fail(path, "duplicate_window (%s) must not exceed max_age (%s)", shortDuration(w), shortDuration(age))
	}
	names := map[string]int{}
	streams := map[string]int{}
	serverIDs := map[uint32]int{}
	slots := map[string]int{}
	pubs := map[string]int{}
	for i := range c.Sources {
		s := &c.Sources[i]
		base := fmt.Sprintf("capture.sources[%d]", i)
		d.sourceName(base, i, s, names, streams)
		if s.DSN == "" {
			d.fail(base+".dsn", "required")
		}
		if s.SignalTable != "" && slices.Contains(s.TableNames(), s.SignalTable) {
			d.fail(base+".signal_table", "%s is also in tables: the signal table holds backfill watermarks and is never captured", s.SignalTable)
		}
		switch s.Type {
		case "":
			d.fail(base+".type", "required: postgres or mysql")
		case SourcePostgres:
			for _, k := range []string{"server_id", "tinyint1_handling"} {
				if d.present(base + "." + k) {
					d.fail(base+"."+k, "only valid for mysql sources (this source is postgres)")
				}
			}
			if s.DSN == "" {
				break
			}
			if msg := checkPostgresDSN(s.DSN.Reveal()); msg != "" {
				d.fail(base+".dsn", "%s", msg)
				break
			}
			db := pgDatabase(s.DSN.Reveal())
			d.uniquePG(base, "slot", db+"/"+s.SlotName(), s.SlotName(), i, slots)
			d.uniquePG(base, "publication", db+"/"+s.PublicationName(), s.PublicationName(), i, pubs)
		case SourceMySQL:
			for _, k := range []string{"slot", "publication"} {
				if d.present(base + "." + k) {
					d.fail(base+"."+k, "only valid for postgres sources (this source is mysql)")
				}
			}
			if s.DSN != "" {
				if msg := checkMySQLDSN(s.DSN.Reveal()); msg != "" {
					d.fail(base+".dsn", "%s", msg)
				}
			}
			switch j, dup := serverIDs[s.ServerID]; {
			case s.ServerID == 0:
				d.fail(base+".server_id", "required for mysql sources: a replica id between 1 and 4294967295, unique among replicas")
			case dup:
				d.fail(base+".server_id", "duplicate server_id %d (also capture.sources[%d])", s.ServerID, j)
			default:
				serverIDs[s.ServerID] = i
			}
		}
	}
}

func (d *decoder) sourceName(base string, i int, s *Source, names, streams map[string]int) {
	if s.Name == "" {
		d.fail(base+".name", "required")
		return
	}
	if j, dup := names[s.Name]; dup {
		d.fail(base+".name", "duplicate source name %s (also capture.sources[%d])", d.show(base+".name", s.Name), j)
		return
	}
	names[s.Name] = i
	if j, dup := streams[s.StreamName()]; dup {
		stream := s.StreamName()
		if _, env := d.fromEnv[base+".name"]; env {
			stream = "(not shown, the name comes from the environment)"
		}
		d.fail(base+".name", "stream name %s is also the stream of capture.sources[%d]; rename one source", stream, j)
	}
	streams[s.StreamName()] = i
	if s.Type == SourcePostgres && (s.Slot == "" || s.Publication == "") && len(defaultPGName(s.Name)) > 63 {
		d.fail(base+".name", "too long to derive slot and publication names (ficus_<name> must fit 63 characters); set slot and publication")
	}
}

// uniquePG reports a slot or publication name used twice on one database.
func (d *decoder) uniquePG(base, key, dbKey, name string, i int, used map[string]int) {
	j, dup := used[dbKey]
	if !dup {
		used[dbKey] = i
		return
	}
	path := base + "." + key
	if !d.present(path) {
		path = base + ".name"
	}
	d.fail(path, "%s %s is also used by capture.sources[%d] on the same database", key, d.show(path, name), j)
}

// pgDatabase identifies the database a valid postgres DSN points at.
func pgDatabase(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	q := u.Query()
	host, db := u.Host, strings.Trim(u.Path, "/")
	if host == "" {
		host = q.Get("host") + ":" + q.Get("port")
	}
	if db == "" {
		db = q.Get("dbname")
	}
	return strings.ToLower(host) + "/" + db
}

// validateListeners rejects two listeners on the same fixed address.
func (d *decoder) validateListeners(c *Config) {
	type listener struct{ path, addr string }
	ls := []listener{{"admin.listen", c.Admin.Listen}}
	if c.Proxy.Enabled() {
		ls = append(ls, listener{"proxy.listen", c.Proxy.Listen})
	}
	if c.NATS.UseEmbedded() {
		ls = append(ls, listener{"nats.embedded.listen", c.NATS.Embedded.Listen})
	}
	for i, a := range ls {
		_, port, err := net.SplitHostPort(a.addr)
		if err != nil || port == "0" || port == "-1" {
			continue
		}
		for _, b := range ls[:i] {
			if a.addr != b.addr {
				continue
			}
			later, other := a, b
			if !d.present(a.path) || (d.present(b.path) && d.before(a.path, b.path)) {
				later, other = b, a
			}
			d.fail(later.path, "address %s is also used by %s", a.addr, other.path)
		}
	}
}
