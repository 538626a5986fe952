package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.yaml.in/yaml/v3"
)

// This file holds the typed scalar decoders and the pure value checks. A
// check returns "" when the value is fine, otherwise what was expected; the
// caller adds what was found (unless the value is secret).

func (d *decoder) boolean(n *yaml.Node, l loc, dst *bool) {
	s, raw, ok := d.scalar(n, l, "true or false", false)
	if !ok {
		return
	}
	switch s {
	case "true", "True", "TRUE":
		*dst = true
	case "false", "False", "FALSE":
		*dst = false
	default:
		d.errorf(l, "expected true or false, got %s", got(s, raw))
	}
}

// integer decodes a base-10 integer within [lo, hi].
func (d *decoder) integer(n *yaml.Node, l loc, lo, hi int64) (int64, bool) {
	s, raw, ok := d.scalar(n, l, "an integer", false)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		d.errorf(l, "expected an integer, got %s", got(s, raw))
		return 0, false
	}
	if v < lo || v > hi {
		d.errorf(l, "must be between %d and %d, got %d", lo, hi, v)
		return 0, false
	}
	return v, true
}

// number decodes a decimal number within [lo, hi].
func (d *decoder) number(n *yaml.Node, l loc, lo, hi float64) (float64, bool) {
	s, raw, ok := d.scalar(n, l, "a number", false)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || strings.ContainsAny(s, "xXpP_") {
		d.errorf(l, "expected a number, got %s", got(s, raw))
		return 0, false
	}
	if v < lo || v > hi {
		d.errorf(l, "must be between %s and %s, got %s", fmtFloat(lo), fmtFloat(hi), fmtFloat(v))
		return 0, false
	}
	return v, true
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// duration decodes a Go duration string of at least lowest (0: not
// negative; 1ns: positive).
func (d *decoder) duration(n *yaml.Node, l loc, dst *time.Duration, lowest time.Duration) {
	if s, raw, ok := d.scalar(n, l, "a duration", false); ok {
		d.durationText(s, raw, l, dst, lowest)
	}
}

func (d *decoder) durationText(s, raw string, l loc, dst *time.Duration, lowest time.Duration) {
	v, err := time.ParseDuration(s)
	switch {
	case err != nil:
		hint := ""
		if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
			hint = " (a unit is required)"
		}
		d.errorf(l, "expected a duration such as \"5s\" or \"1h30m\"%s, got %s", hint, got(s, raw))
	case v >= lowest:
		*dst = v
	case lowest <= 0:
		d.errorf(l, "must not be negative, got %s", got(s, raw))
	case lowest == time.Nanosecond:
		d.errorf(l, "must be greater than 0, got %s", got(s, raw))
	default:
		d.errorf(l, "must be at least %s, got %s", shortDuration(lowest), got(s, raw))
	}
}

// shortDuration formats d without trailing zero units: 10m, not 10m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// size decodes a byte size; unlimited allows -1.
func (d *decoder) size(n *yaml.Node, l loc, dst *int64, unlimited bool) {
	s, raw, ok := d.scalar(n, l, "a size", false)
	if !ok {
		return
	}
	v, err := parseSize(s)
	switch {
	case err != nil:
		d.errorf(l, "expected a size in bytes such as 1048576, \"512MB\" or \"1GiB\", got %s", got(s, raw))
	case v == -1 && unlimited:
		*dst = v
	case v <= 0 && unlimited:
		d.errorf(l, "must be -1 (unlimited) or greater than 0, got %s", got(s, raw))
	case v <= 0:
		d.errorf(l, "must be greater than 0, got %s", got(s, raw))
	default:
		*dst = v
	}
}

var sizeRe = regexp.MustCompile(`^(-?[0-9]+) ?([A-Za-z]*)$`)

var sizeUnits = map[string]int64{
	"": 1, "B": 1,
	"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
	"KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40,
}

// parseSize parses "1048576", "512MB" (powers of 1000) or "1GiB" (powers
// of 1024); unit letters are case-insensitive.
func parseSize(s string) (int64, error) {
	m := sizeRe.FindStringSubmatch(s)
	if m == nil {
		return 0, errors.New("not a size")
	}
	mult, ok := sizeUnits[strings.ToUpper(m[2])]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q", m[2])
	}
	v, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, err
	}
	if v > math.MaxInt64/mult || v < math.MinInt64/mult {
		return 0, errors.New("too large")
	}
	return v * mult, nil
}

// enum decodes one of the allowed strings.
func enum[T ~string](d *decoder, n *yaml.Node, l loc, dst *T, allowed ...T) {
	s, raw, ok := d.scalar(n, l, "a string", false)
	if !ok {
		return
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		if string(a) == s {
			*dst = a
			return
		}
		names[i] = string(a)
	}
	d.errorf(l, "must be one of %s, got %s", strings.Join(names, ", "), got(s, raw))
}

// checked decodes a string that must pass check. The empty string means
// "not set" and is not checked; required keys are checked in validate.go.
func (d *decoder) checked(n *yaml.Node, l loc, dst *string, check func(string) string) {
	s, raw, ok := d.scalar(n, l, "a string", false)
	if !ok {
		return
	}
	if s == "" {
		*dst = ""
		return
	}
	d.checkText(s, raw, l, dst, check)
}

// checkText stores s in dst if check (when not nil) accepts it.
func (d *decoder) checkText(s, raw string, l loc, dst *string, check func(string) string) {
	if check != nil {
		if msg := check(s); msg != "" {
			d.errorf(l, "%s, got %s", msg, got(maskUserinfo(s), maskUserinfo(raw)))
			return
		}
	}
	*dst = s
}

// maskUserinfo masks passwords in URL-looking values before they are
// quoted in an error message.
func maskUserinfo(s string) string {
	if strings.Contains(s, "@") {
		return MaskDSN(s)
	}
	return s
}

var hostnameRe = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$`)

func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	return len(h) <= 253 && hostnameRe.MatchString(h)
}

func validPort(p string, lo int) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= lo && n <= 65535 && p == strconv.Itoa(n)
}

// listenCheck returns a check for listen addresses; random allows port -1,
// NATS' spelling of "any free port".
func listenCheck(random bool) func(string) string {
	return func(s string) string {
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			return "expected host:port such as 127.0.0.1:8080"
		}
		if host != "" && !validHost(host) {
			return "expected host:port with a valid host name or IP address"
		}
		if !validPort(port, 0) && !(random && port == "-1") {
			return "expected host:port with a port between 0 and 65535"
		}
		return ""
	}
}

// checkHostMatch accepts a host name or IP, optionally with a port.
func checkHostMatch(s string) string {
	if validHost(s) {
		return ""
	}
	if host, port, err := net.SplitHostPort(s); err == nil && validHost(host) && validPort(port, 1) {
		return ""
	}
	return "expected a host name or host:port such as shop.example or shop.example:8443"
}

// checkMITMHost is checkHostMatch that also accepts "*.domain".
func checkMITMHost(s string) string {
	if rest, ok := strings.CutPrefix(s, "*."); ok {
		s = rest
	}
	if checkHostMatch(s) != "" {
		return "expected a host name, host:port or *.domain"
	}
	return ""
}

func checkHTTPURL(s string) string {
	const want = "expected an http:// or https:// URL such as http://127.0.0.1:4000"
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return want
	}
	if !validHost(u.Hostname()) || (u.Port() != "" && !validPort(u.Port(), 1)) {
		return want + " (bad host or port)"
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return want + " (without query or fragment)"
	}
	return ""
}

func checkNATSURL(s string) string {
	const want = "expected a NATS URL such as nats://127.0.0.1:4222"
	if !strings.Contains(s, "://") {
		s = "nats://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || !validHost(u.Hostname()) || (u.Port() != "" && !validPort(u.Port(), 1)) {
		return want
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
		return ""
	}
	return want + " (scheme nats, tls, ws or wss)"
}

// isTchar reports whether c may appear in an HTTP token (RFC 9110).
func isTchar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}

func checkMethod(s string) string {
	if !isToken(s) || strings.ToUpper(s) != s {
		return "expected an upper-case HTTP method such as GET"
	}
	return ""
}

func checkHeaderName(s string) string {
	if !isToken(s) {
		return "expected an HTTP header name"
	}
	return ""
}

func checkPathPrefix(s string) string {
	if !strings.HasPrefix(s, "/") {
		return `must start with "/"`
	}
	return ""
}

func checkSubject(s string) string {
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || strings.ContainsAny(tok, "*>") || strings.IndexFunc(tok, func(r rune) bool {
			return r <= ' ' || r == 0x7f
		}) >= 0 {
			return `expected a NATS subject such as ficus.cdc (dot-separated tokens without spaces, "*" or ">")`
		}
	}
	return ""
}

func checkTable(s string) string {
	schema, table := SplitTable(s)
	if schema == "" || table == "" {
		return `expected "schema.table"`
	}
	return ""
}

// tables decodes capture.sources[].tables: each item "schema.table" or
// {table: "schema.table", subject: token}.
func (d *decoder) tables(n *yaml.Node, l loc, dst *[]Table) {
	var out []Table
	first := map[string]int{}
	i := -1
	d.list(n, l, func(item *yaml.Node, il loc) {
		i++
		var t Table
		var raw string
		tl := il // where the table name is, for its errors
		if r := d.resolve(item, il); r != nil && r.Kind == yaml.MappingNode {
			found := false
			d.mapping(r, il,
				field{"table", func(v *yaml.Node, l loc) {
					found = true
					tl = l
					t.Table, raw, _ = d.scalar(v, l, "a string", false)
				}},
				field{"subject", func(v *yaml.Node, l loc) { d.checked(v, l, &t.Subject, checkSubjectToken) }},
				field{"columns", func(v *yaml.Node, l loc) { d.tableColumns(v, l, &t.Columns) }},
			)
			if !found {
				d.errorf(il, "table is required")
				return
			}
		} else {
			t.Table, raw, _ = d.scalar(item, il, `"schema.table" or a mapping {table, subject, columns}`, false)
		}
		if d.failed[tl.path] || d.failed[il.path+".subject"] {
			return
		}
		if t.Table == "" {
			d.errorf(tl, "must not be empty")
			return
		}
		schema, table, problem := ParseTable(t.Table)
		if problem != "" {
			d.errorf(tl, "%s, got %s", problem, got(t.Table, raw))
			return
		}
		shown := got(t.Table, raw)
		t.Table = schema + "." + table
		if j, dup := first[t.Table]; dup {
			if !strings.Contains(shown, "(value not shown)") {
				shown = strconv.Quote(t.Table)
			}
			d.errorf(tl, "duplicate of item [%d]: %s", j, shown)
			return
		}
		first[t.Table] = i
		out = append(out, t)
	})
	if out != nil {
		*dst = out
	}
}

var (
	routeNameRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)
	sourceNameRe = regexp.MustCompile(`^[a-z0-9_-]+$`)
	pgNameRe     = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)
	// signalTableRe: table or schema.table; the readers quote it.
	signalTableRe = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]{0,63}\.)?[A-Za-z_][A-Za-z0-9_]{0,63}$`)
)

func reCheck(re *regexp.Regexp, want string) func(string) string {
	return func(s string) string {
		if !re.MatchString(s) {
			return want
		}
		return ""
	}
}

// checkPostgresDSN never quotes the DSN: it may hold a password.
func checkPostgresDSN(s string) string {
	const want = "expected a postgres:// or postgresql:// URL such as postgres://user:pass@host:5432/db"
	if !urlScheme.MatchString(s) {
		return want
	}
	u, err := url.Parse(s)
	if err != nil {
		return want + " (it does not parse as a URL)"
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return fmt.Sprintf("%s, got scheme %q", want, u.Scheme)
	}
	q := u.Query()
	if u.Host == "" && q.Get("host") == "" {
		return "postgres URL has no host"
	}
	if strings.Trim(u.Path, "/") == "" && q.Get("dbname") == "" {
		return "postgres URL names no database (postgres://user:pass@host:5432/dbname)"
	}
	return ""
}

// checkMySQLDSN never quotes the DSN: it may hold a password.
func checkMySQLDSN(s string) string {
	const want = "expected a DSN such as user:pass@tcp(host:3306)/db"
	cfg, err := mysql.ParseDSN(s)
	if err != nil {
		// The driver's DSN syntax errors are constant texts; others may
		// quote parameter values, so they are not shown.
		switch msg := err.Error(); {
		case strings.HasPrefix(msg, "invalid DSN:"):
			return want + " (" + msg + ")"
		case strings.HasPrefix(msg, "default addr for network"):
			return want + " (unknown network: write tcp(host:port) after the @)"
		}
		return want + " (it does not parse)"
	}
	if cfg.Net != "tcp" {
		return want + " (the network must be tcp)"
	}
	if cfg.User == "" {
		return want + " (a user is required)"
	}
	return ""
}
