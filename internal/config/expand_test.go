package config

import "testing"

func TestExpand(t *testing.T) {
	env := lookup(map[string]string{"A": "alpha", "EMPTY": "", "DSN": "postgres://u:s3cret@h/d"})
	tests := []struct {
		in, want, err string
		secret        bool
	}{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "alpha"},
		{in: "x-${A}-y", want: "x-alpha-y"},
		{in: "${A}${A}", want: "alphaalpha"},
		{in: "${EMPTY}", want: ""},
		{in: "${EMPTY:-dflt}", want: "dflt"},
		{in: "${UNSET:-dflt}", want: "dflt"},
		{in: "${UNSET:-}", want: ""},
		{in: "${UNSET:-a:-b}", want: "a:-b"},
		{in: "${A:-dflt}", want: "alpha"},
		{in: "$$", want: "$"},
		{in: "$${A}", want: "${A}"},
		{in: "$$$${A}", want: "$${A}"},
		{in: "$$${A}", want: "$alpha"},
		{in: "cost: $5", want: "cost: $5"},
		{in: "trailing $", want: "trailing $"},
		{in: "$A", want: "$A"},
		{in: "${UNSET}", err: "environment variable UNSET is not set"},
		{in: "${}", err: `invalid variable name "" in "${...}" (write "$$" for a literal "$")`},
		{in: "${A-b}", err: `invalid variable name "A-b" in "${...}" (write "$$" for a literal "$")`},
		{in: "${A", err: `unterminated "${" (write "$$" for a literal "$")`},
		{in: "pw${s3cret-x}", secret: true, err: `invalid variable name in "${...}" (write "$$" for a literal "$")`},
	}
	for _, tt := range tests {
		got, _, err := expand(tt.in, env, tt.secret)
		switch {
		case tt.err != "" && (err == nil || err.Error() != tt.err):
			t.Errorf("expand(%q) error = %v, want %q", tt.in, err, tt.err)
		case tt.err == "" && err != nil:
			t.Errorf("expand(%q): %v", tt.in, err)
		case tt.err == "" && got != tt.want:
			t.Errorf("expand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
