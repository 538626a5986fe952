package redact

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Prefix starts every hashed secret: a secret value v is written
// Prefix + the first 16 hex digits of HMAC-SHA256(key, v). Under one key
// equal secrets hash equal, so comparisons and groupings still work, while
// without the key a hash cannot be checked against guesses (a PIN has only
// 10^4 values: a plain hash would give it away).
const Prefix = "REDACTED:hmac-sha256:"

// Plain replaces secrets where no key is at hand.
const Plain = "REDACTED"

// Config configures a Redactor.
type Config struct {
	// Rules add to Builtin.
	Rules Rules
	// Key is the HMAC-SHA256 key of the hashes. Empty writes every secret
	// as Plain, which keeps nothing comparable: only for re-checking what
	// was written without a key (see record.Recheck).
	Key []byte
}

// Redactor holds the compiled rules and the key; safe for concurrent use.
// Redacting one exchange is done with an Exchange.
type Redactor struct {
	headers, params, jsonKeys matcher
	key                       []byte
}

// New compiles cfg.
func New(cfg Config) (*Redactor, error) {
	var errs []error
	compileKind := func(kind string, extra []string) matcher {
		m, err := compile(Builtin, extra)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", kind, err))
		}
		return m
	}
	r := &Redactor{
		headers:  compileKind("headers", cfg.Rules.Headers),
		params:   compileKind("params", cfg.Rules.Params),
		jsonKeys: compileKind("json_keys", cfg.Rules.JSONKeys),
		key:      append([]byte(nil), cfg.Key...),
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("redact: %w", errors.Join(errs...))
	}
	return r, nil
}

// SecretHeader reports whether the values of header name are secret.
func (r *Redactor) SecretHeader(name string) bool { return r.headers.match(name) }

// SecretParam reports whether the values of query or form parameter name
// (a multipart field name too) are secret.
func (r *Redactor) SecretParam(name string) bool { return r.params.match(name) }

// SecretJSONKey reports whether the values under JSON object key name are
// secret, whatever their depth.
func (r *Redactor) SecretJSONKey(name string) bool { return r.jsonKeys.match(name) }

// Mark returns what is written instead of the secret v: its keyed hash, or
// Plain without a key.
func (r *Redactor) Mark(v string) string {
	if len(r.key) == 0 {
		return Plain
	}
	mac := hmac.New(sha256.New, r.key)
	mac.Write([]byte(v))
	return Prefix + hex.EncodeToString(mac.Sum(nil)[:8])
}

// Error returns err with the query cut off any URL it carries as a
// *url.Error (what net/http's client returns): a query may hold secrets, and
// such errors end up in logs, where the path and the cause are what helps.
func Error(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	u, _, cut := strings.Cut(ue.URL, "?")
	if !cut {
		return err
	}
	return &url.Error{Op: ue.Op, URL: u + "?" + Plain, Err: ue.Err}
}
