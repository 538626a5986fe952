// Package rules holds the request rules every proxy path applies before it
// routes a request (the reverse proxy's fast and ReverseProxy paths, the
// forward proxy): one place decides what reaches an upstream.
package rules

import (
	"net/http"
	"net/url"
	"strings"
)

// StripFicusHeaders removes every inbound header in ficus's own namespace
// (Ficus-Shadow, Ficus-Served-By, ...): a client must not be able to pose
// as a mirrored request or steer a route by sending them.
func StripFicusHeaders(h http.Header) {
	for k := range h {
		if IsFicusHeader(k) {
			delete(h, k)
		}
	}
}

// FicusPrefix starts every header in ficus's own namespace.
const FicusPrefix = "Ficus-"

// IsFicusHeader reports a header in ficus's namespace (canonical or not).
func IsFicusHeader(k string) bool {
	return len(k) >= len(FicusPrefix) && strings.EqualFold(k[:len(FicusPrefix)], FicusPrefix)
}

// PathError is a request path ficus refuses to route (answer 400).
type PathError string

func (e PathError) Error() string { return string(e) }

// CleanPath normalises u's path before routing, as nginx does: dot segments
// are resolved (RFC 3986 5.2.4) and empty segments (duplicate slashes)
// dropped, so that the route is chosen on the path a backend will resolve,
// and the cleaned path is what is forwarded. A segment spelled with
// percent-encoded dots (%2E) counts as a dot segment, since backends decode
// them. An encoded slash (%2F) stays encoded and is no separator: it is part
// of its segment and is matched as the character "/". A path that would
// still hold a dot segment once its encoded slashes are decoded is refused:
// a backend that decodes %2F would resolve it differently than ficus routed.
func CleanPath(u *url.URL) error {
	esc := u.EscapedPath()
	if esc == "" {
		return nil // an absolute-form URI without a path (forward proxy): "/"
	}
	if esc[0] != '/' {
		return PathError("request path must start with /")
	}
	if !needsCleaning(esc) {
		return nil
	}
	segs := strings.Split(esc[1:], "/")
	out := make([]string, 0, len(segs))
	trailing := false
	for _, s := range segs {
		trailing = false
		switch dotSegment(s) {
		case 1:
			trailing = true
		case 2:
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			trailing = true
		default:
			if s == "" {
				trailing = true
				continue
			}
			out = append(out, s)
		}
	}
	cleaned := "/" + strings.Join(out, "/")
	if trailing && len(out) > 0 {
		cleaned += "/"
	}
	p, err := url.PathUnescape(cleaned)
	if err != nil {
		return PathError("bad percent-encoding in request path")
	}
	if hasDotSegment(p) {
		return PathError("dot segments hidden behind encoded slashes in request path")
	}
	u.Path, u.RawPath = p, cleaned
	if u.EscapedPath() != cleaned {
		u.RawPath = "" // Path alone spells it the same
	}
	return nil
}

// needsCleaning is the fast test for the common, already clean path.
func needsCleaning(esc string) bool {
	return strings.Contains(esc, "//") || strings.Contains(esc, "/.") ||
		strings.Contains(esc, "%2e") || strings.Contains(esc, "%2E") ||
		strings.Contains(esc, "%2f") || strings.Contains(esc, "%2F")
}

// dotSegment reports 1 for ".", 2 for "..", each dot possibly spelled %2E.
func dotSegment(s string) int {
	n := 0
	for i := 0; i < len(s); {
		switch {
		case s[i] == '.':
			i++
		case strings.HasPrefix(s[i:], "%2e") || strings.HasPrefix(s[i:], "%2E"):
			i += 3
		default:
			return 0
		}
		n++
		if n > 2 {
			return 0
		}
	}
	return n
}

func hasDotSegment(p string) bool {
	for _, s := range strings.Split(p, "/") {
		if s == "." || s == ".." {
			return true
		}
	}
	return false
}

// CleanQuery is what httputil.ReverseProxy (Rewrite mode) does to a query
// it cannot forward as it is (semicolons, bad escapes, too many
// parameters): it is parsed and encoded again. Applied here, before either
// path, so both forward the same query.
func CleanQuery(s string) string {
	if strings.Count(s, "&")+1 > maxQueryParams {
		return reencodeQuery(s)
	}
	for i := 0; i < len(s); {
		switch s[i] {
		case ';':
			return reencodeQuery(s)
		case '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return reencodeQuery(s)
			}
			i += 3
		default:
			i++
		}
	}
	return s
}

// maxQueryParams is net/url's default limit on parameters.
const maxQueryParams = 10000

func reencodeQuery(s string) string {
	v, _ := url.ParseQuery(s) // keeps what parses, as ReverseProxy does
	return v.Encode()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
