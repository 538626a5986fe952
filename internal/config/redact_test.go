package config

import (
	"reflect"
	"strings"
	"testing"

	"github.com/ficus-migrate/ficus/shadow/redact"
)

// TestRedact covers shadow.redact: its lists add to the built-in rules,
// redact_headers still adds to headers, the key stays secret, and every bad
// entry is reported at its file:line:column.
func TestRedact(t *testing.T) {
	const good = `shadow:
  redact_headers: [X-Legacy-Secret]
  redact:
    headers: [X-Tenant, "*-signature*"]
    params: [iban, "*shard*"]
    json_keys: [account_number]
    key: ${REDACT_KEY}
`
	c, err := LoadBytes("t.yaml", []byte(good), lookup(map[string]string{"REDACT_KEY": "s3cret-0123456789abcdef"}))
	if err != nil {
		t.Fatal(err)
	}
	want := redact.Rules{Headers: []string{"X-Legacy-Secret", "X-Tenant", "*-signature*"},
		Params: []string{"iban", "*shard*"}, JSONKeys: []string{"account_number"}}
	if got := c.Shadow.RedactRules(); !reflect.DeepEqual(got, want) {
		t.Errorf("RedactRules() = %#v, want %#v", got, want)
	}
	if c.Shadow.Redact.Key.Reveal() != "s3cret-0123456789abcdef" || strings.Contains(c.Redacted(), "s3cret") {
		t.Errorf("key %q; printed config:\n%s", c.Shadow.Redact.Key.Reveal(), c.Redacted())
	}
	if _, err := redact.New(redact.Config{Rules: c.Shadow.RedactRules()}); err != nil {
		t.Errorf("accepted rules do not compile: %v", err)
	}

	for _, tt := range []struct{ name, yaml, want string }{
		{"substring without the closing star", "shadow: {redact: {params: [ok, '*shard']}}",
			`t.yaml:1:32: shadow.redact.params[1]: expected NAME (the whole name) or *PART* (names containing PART), got "*shard"`},
		{"star inside", "shadow: {redact: {json_keys: ['a*b']}}",
			`t.yaml:1:31: shadow.redact.json_keys[0]: expected NAME (the whole name) or *PART* (names containing PART), got "a*b"`},
		{"bad header", "shadow:\n  redact:\n    headers: ['X Tenant']\n",
			`t.yaml:3:15: shadow.redact.headers[0]: expected an HTTP header name, got "X Tenant"`},
		{"bad header alias", "shadow: {redact_headers: ['*x']}",
			`t.yaml:1:27: shadow.redact_headers[0]: expected NAME (the whole name) or *PART* (names containing PART), got "*x"`},
		{"only separators", "shadow: {redact: {params: ['-_']}}",
			`t.yaml:1:28: shadow.redact.params[0]: must contain a character other than '-', '_' and '*', got "-_"`},
		{"empty entry", "shadow: {redact: {params: ['']}}", `t.yaml:1:28: shadow.redact.params[0]: must not be empty`},
		{"short key", "shadow:\n  redact: {key: s3cret}\n",
			`t.yaml:2:12: shadow.redact.key: must be at least 16 characters (value not shown)`},
		{"unknown key", "shadow: {redact: {names: [a]}}",
			`t.yaml:1:19: shadow.redact.names: unknown key (expected one of: headers, params, json_keys, key)`},
		{"not a mapping", "shadow: {redact: [a]}", `t.yaml:1:10: shadow.redact: expected a mapping, got a list`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadBytes("t.yaml", []byte(tt.yaml), lookup(nil))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v\nwant it to contain %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("a secret is in the message: %v", err)
			}
		})
	}
}
