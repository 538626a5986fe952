package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"
	"go.yaml.in/yaml/v3"
)

// RedactedText replaces secrets wherever a config is printed.
const RedactedText = "REDACTED"

// Secret is a string that must never be printed: fmt, slog, encoding/json
// and YAML dumps all show "REDACTED" instead (or nothing when empty). Call
// Reveal to use the value.
type Secret string

// Reveal returns the secret value itself.
func (s Secret) Reveal() string { return string(s) }

// String returns "REDACTED", or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return RedactedText
}

// GoString keeps %#v from printing the secret.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// MarshalText makes JSON and YAML encoders print the redacted form.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// DSN is a connection string (URL or go-sql-driver DSN) that may carry a
// password. Printing it (fmt, slog, JSON, YAML) masks the password; a DSN
// that cannot be parsed is printed as "REDACTED". Call Reveal to connect.
type DSN string

// Reveal returns the DSN itself, password included.
func (d DSN) Reveal() string { return string(d) }

// String returns the DSN with its password masked.
func (d DSN) String() string { return MaskDSN(string(d)) }

// GoString keeps %#v from printing the password.
func (d DSN) GoString() string { return strconv.Quote(d.String()) }

// MarshalText makes JSON and YAML encoders print the masked form.
func (d DSN) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// urlScheme recognises URL-style DSNs; anything else is taken to be a
// go-sql-driver DSN, whose password may itself contain "://".
var urlScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)

// secretParams are query parameters whose values are masked in URL DSNs.
var secretParams = []string{"password", "sslpassword", "pass", "token", "secret"}

// MaskDSN returns dsn with any password replaced by REDACTED: the userinfo
// password and password-like query parameters of a URL, or the password of
// a go-sql-driver DSN. When dsn cannot be parsed the result is REDACTED, so
// the function never leaks what it does not understand.
func MaskDSN(dsn string) string {
	if dsn == "" {
		return ""
	}
	if urlScheme.MatchString(dsn) {
		u, err := url.Parse(dsn)
		if err != nil {
			return RedactedText
		}
		if u.User != nil {
			if _, ok := u.User.Password(); ok {
				u.User = url.UserPassword(u.User.Username(), RedactedText)
			}
		}
		if u.RawQuery != "" {
			q, err := url.ParseQuery(u.RawQuery)
			if err != nil {
				return RedactedText
			}
			changed := false
			for k := range q {
				for _, p := range secretParams {
					if strings.EqualFold(k, p) {
						q[k] = []string{RedactedText}
						changed = true
					}
				}
			}
			if changed {
				u.RawQuery = q.Encode()
			}
		}
		return u.String()
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return RedactedText
	}
	if cfg.Passwd == "" {
		return dsn
	}
	cfg.Passwd = RedactedText
	return cfg.FormatDSN()
}

// Redacted returns the effective configuration (defaults applied) as YAML,
// with secrets replaced by REDACTED and passwords in DSNs and URLs masked;
// safe for logs. The output uses the config file's keys.
func (c *Config) Redacted() string {
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		// Only custom marshalers can fail and none of ours do; say so
		// rather than print a partial dump.
		return fmt.Sprintf("# cannot print config: %v\n", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Sprintf("# cannot print config: %v\n", err)
	}
	return b.String()
}

// String returns Redacted(), so printing a *Config never leaks secrets.
func (c *Config) String() string { return c.Redacted() }

// MarshalYAML writes sync_interval in its config file form ("always" or a
// duration), which the two Go fields cannot express through tags.
func (e Embedded) MarshalYAML() (any, error) {
	sync := e.SyncInterval.String()
	if e.SyncAlways {
		sync = "always"
	}
	return struct {
		Listen       string       `yaml:"listen"`
		StoreDir     string       `yaml:"store_dir"`
		SyncInterval string       `yaml:"sync_interval"`
		Auth         EmbeddedAuth `yaml:"auth,omitempty"`
		TLS          EmbeddedTLS  `yaml:"tls,omitempty"`
	}{e.Listen, e.StoreDir, sync, e.Auth, e.TLS}, nil
}
