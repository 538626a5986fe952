package config

import (
	"slices"

	"github.com/ficus-migrate/ficus/shadow/redact"
)

// Redact adds to what ficus treats as secret in shadowed exchanges before
// it records them: the built-in list (authorization, cookie, set-cookie,
// x-api-key, *token*, *secret*, *password*, pwd, pin, otp, cvv, key, sig,
// code and more; see shadow/redact.Builtin) always applies, to header
// names, parameter names and JSON keys alike. An entry NAME matches that
// whole name, *PART* every name containing PART; names compare
// case-insensitively, ignoring '-' and '_'. A secret value is recorded as
// REDACTED:hmac-sha256:<16 hex digits>, the same for equal values.
type Redact struct {
	// Headers are request and response header names.
	Headers []string `yaml:"headers,omitempty"`
	// Params are query parameter and form field names (urlencoded and
	// multipart).
	Params []string `yaml:"params,omitempty"`
	// JSONKeys are object keys of JSON bodies, at any depth.
	JSONKeys []string `yaml:"json_keys,omitempty"`
	// Key is the HMAC key secrets are hashed with, at least 16 characters;
	// set it (the same on every ficus writing to one NATS) from the
	// environment: key: ${FICUS_REDACT_KEY}. Default: a key generated once
	// into nats.embedded.store_dir (file ficus-shadow-redact.key); with an
	// external NATS, a key for the life of the process.
	Key Secret `yaml:"key,omitempty"`
}

// minRedactKey is the shortest accepted shadow.redact.key.
const minRedactKey = 16

// RedactRules are the shadow.redact additions, redact_headers included.
func (s Shadow) RedactRules() redact.Rules {
	return redact.Rules{
		Headers:  slices.Concat(s.RedactHeaders, s.Redact.Headers),
		Params:   s.Redact.Params,
		JSONKeys: s.Redact.JSONKeys,
	}
}
