package redact

import (
	"cmp"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// minEcho is the shortest secret value that is also replaced where it
// merely appears inside other text (an echo in a body, a diff line):
// shorter ones (a 3-digit CVV) would hit unrelated digits everywhere, and
// are replaced only where a diff value is exactly the secret.
const minEcho = 4

// Exchange redacts one mirrored exchange: the request and both answers,
// then the differences found between the answers. It remembers every
// secret value it replaced, so that the same value is replaced wherever
// else it shows up: echoed in an answer under an innocent name, inside a
// text line of a diff.
//
// The calling contract is two passes. First pass every part through Header,
// Query and Body; then write each part down through Text, FinishBody and
// Diffs, which replace the values the first pass found. An Exchange is not
// safe for concurrent use.
type Exchange struct {
	r       *Redactor
	secrets map[string]bool
	echo    *strings.Replacer // of secrets; nil when secrets changed
	spelled []string          // spellings echo replaces; nil when secrets changed
	sorted  []string          // secrets of at least minEcho bytes, sorted with echo
	changes int               // replacements so far, to keep untouched JSON as it was
}

// Exchange starts redacting one exchange.
func (r *Redactor) Exchange() *Exchange {
	return &Exchange{r: r, secrets: map[string]bool{}}
}

// mark replaces the secret v and remembers it.
func (x *Exchange) mark(v string) string {
	x.remember(v)
	x.changes++
	return x.r.Mark(v)
}

func (x *Exchange) remember(v string) {
	v = strings.TrimSpace(v)
	if v == "" || v == Plain || x.secrets[v] {
		return
	}
	x.secrets[v] = true
	x.echo, x.spelled = nil, nil
}

// Header returns a copy of h whose secret headers have each value hashed
// whole, and whose other values have key=value pairs with secret keys
// hashed (a Location carrying ?code=…). Parts of a secret value (the
// credential after "Bearer ", each cookie's value) are remembered too.
func (x *Exchange) Header(h http.Header) http.Header {
	if h == nil {
		return nil
	}
	out := make(http.Header, len(h))
	for k, vs := range h {
		red := make([]string, len(vs))
		for i, v := range vs {
			if !x.r.SecretHeader(k) {
				red[i] = x.text(v)
				continue
			}
			for _, part := range secretParts(v) {
				x.remember(part)
			}
			red[i] = x.mark(v)
		}
		out[k] = red
	}
	return out
}

// secretParts are the parts of a secret header value that may show up on
// their own: the credentials of "Scheme credentials", and the values of
// "name=value; name=value" cookies, not their attributes (Path=/, Expires).
func secretParts(v string) []string {
	var parts []string
	v = strings.TrimSpace(v)
	if scheme, cred, ok := strings.Cut(v, " "); ok && !strings.ContainsAny(scheme, "=;,") {
		parts = append(parts, cred)
	}
	for _, item := range strings.Split(v, ";") {
		name, val, ok := strings.Cut(strings.TrimSpace(item), "=")
		if ok && !cookieAttributes[strings.ToLower(name)] {
			parts = append(parts, strings.Trim(val, `"`))
		}
	}
	return parts
}

var cookieAttributes = map[string]bool{"path": true, "domain": true, "expires": true, "max-age": true,
	"samesite": true, "priority": true}

// Query returns a query (or urlencoded form) with the values of secret
// parameters hashed; everything else keeps its original encoding and order.
func (x *Exchange) Query(raw string) string {
	if raw == "" {
		return raw
	}
	pairs := strings.Split(raw, "&")
	for i, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		if !x.r.SecretParam(unescape(k)) {
			pairs[i] = k + "=" + x.text(unescape(v))
			if pairs[i] == k+"="+unescape(v) {
				pairs[i] = p // nothing secret inside: keep the encoding
			}
			continue
		}
		pairs[i] = k + "=" + x.mark(unescape(v))
	}
	return strings.Join(pairs, "&")
}

func unescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// Text returns s with every remembered secret value (of at least minEcho
// bytes) replaced, also in its JSON- and URL-escaped spellings. A value the
// diff engine cut ("…(truncated)") is also cleared of a secret's beginning
// at the cut.
func (x *Exchange) Text(s string) string {
	if len(x.secrets) == 0 || s == "" {
		return s
	}
	cut := strings.HasSuffix(s, truncMark)
	if !cut && !x.echoIn(s) {
		return s // what the replacer would give, without building it
	}
	out := x.replacer().Replace(s)
	if head, ok := strings.CutSuffix(out, truncMark); ok {
		out = x.cutEcho(head) + truncMark
	}
	if out != s {
		x.changes++
	}
	return out
}

// cutEcho replaces a tail of s that begins a remembered secret, the
// longest such tail; a binary search per position keeps it quick however
// many secrets a request carried.
func (x *Exchange) cutEcho(s string) string {
	x.replacer() // sorts x.sorted
	for p := max(0, len(s)-maxEchoCut); p <= len(s)-minEcho; p++ {
		tail := s[p:]
		i, _ := slices.BinarySearch(x.sorted, tail)
		if i < len(x.sorted) && len(x.sorted[i]) > len(tail) && strings.HasPrefix(x.sorted[i], tail) {
			return s[:p] + x.r.Mark(x.sorted[i])
		}
	}
	return s
}

// maxEchoCut bounds the tail cutEcho looks at: diff values are cut to a few
// hundred bytes, so no secret begins further back than that.
const maxEchoCut = 1 << 10

// echoIn reports whether s holds a spelling of a remembered secret that
// replacer replaces; when it does not, replacing gives s.
func (x *Exchange) echoIn(s string) bool {
	if x.spelled == nil {
		x.spelled = []string{}
		for v := range x.secrets {
			if len(v) < minEcho {
				continue
			}
			for _, sp := range spellings(v) {
				if !slices.Contains(x.spelled, sp) { // most spell alike
					x.spelled = append(x.spelled, sp)
				}
			}
		}
	}
	for _, sp := range x.spelled {
		if strings.Contains(s, sp) {
			return true
		}
	}
	return false
}

// spellings are the ways v is written in text: as is, inside a JSON
// string, in a query and in a path.
func spellings(v string) []string {
	q, _ := json.Marshal(v)
	return []string{v, string(q[1 : len(q)-1]), url.QueryEscape(v), url.PathEscape(v)}
}

// replacer replaces the remembered secrets, longest first so that a secret
// containing another is replaced whole.
func (x *Exchange) replacer() *strings.Replacer {
	if x.echo != nil {
		return x.echo
	}
	type pair struct{ from, to string }
	var pairs []pair
	x.sorted = x.sorted[:0]
	for v := range x.secrets {
		if len(v) < minEcho {
			continue
		}
		x.sorted = append(x.sorted, v)
		m := x.r.Mark(v)
		for _, sp := range spellings(v) {
			pairs = append(pairs, pair{sp, m})
		}
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		return cmp.Or(cmp.Compare(len(b.from), len(a.from)), strings.Compare(a.from, b.from))
	})
	pairs = slices.CompactFunc(pairs, func(a, b pair) bool { return a.from == b.from })
	args := make([]string, 0, 2*len(pairs))
	for _, p := range pairs {
		args = append(args, p.from, p.to)
	}
	slices.Sort(x.sorted)
	x.echo = strings.NewReplacer(args...)
	return x.echo
}

// exactly reports whether s is a remembered secret, however short.
func (x *Exchange) exactly(s string) bool {
	return x.secrets[strings.TrimSpace(s)]
}
