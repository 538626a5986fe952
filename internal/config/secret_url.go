package config

import (
	"net/url"
	"strconv"
)

// SecretURL is a URL whose path and query are a credential, such as a Slack
// incoming webhook (https://hooks.slack.com/services/T…/B…/secret).
// Printing it (fmt, slog, JSON, YAML) shows only the scheme and host, with
// REDACTED for the rest; a URL that cannot be parsed prints as REDACTED.
// Call Reveal to send to it.
type SecretURL string

// Reveal returns the URL itself.
func (u SecretURL) Reveal() string { return string(u) }

// String returns the URL with its user, path and query replaced.
func (u SecretURL) String() string { return MaskURL(string(u)) }

// GoString keeps %#v from printing the secret part.
func (u SecretURL) GoString() string { return strconv.Quote(u.String()) }

// MarshalText makes JSON and YAML encoders print the masked form.
func (u SecretURL) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// MaskURL returns scheme://host of s, followed by /REDACTED when s has
// anything past the host (user info, path, query or fragment), which is
// where webhook URLs keep their secret. It never returns what it cannot
// parse: that is REDACTED.
func MaskURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return RedactedText
	}
	out := u.Scheme + "://" + u.Host
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "" {
		out += "/" + RedactedText
	}
	return out
}
