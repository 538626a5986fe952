package config

import (
	"reflect"
	"testing"
)

// An admin API without a token is allowed on loopback only; the message
// names the key to fix, at its line, and the variable that came out empty.
func TestAdminTokenRule(t *testing.T) {
	const tail = " is not loopback: anyone who can reach the listener could change routes; "
	tests := []struct {
		name, yaml string
		env        map[string]string
		want       string // the error, "" for none
		warning    string
	}{
		{name: "default", yaml: "log: {level: info}\n"},
		{name: "loopback without token", yaml: "admin:\n  listen: 127.0.0.1:9901\n"},
		{name: "other loopback address", yaml: "admin:\n  listen: 127.0.0.2:9901\n"},
		{name: "localhost", yaml: "admin:\n  listen: localhost:0\n"},
		{name: "IPv6 loopback", yaml: "admin:\n  listen: '[::1]:9901'\n"},
		{name: "network with token", yaml: "admin:\n  listen: 0.0.0.0:9901\n  token: ${T}\n", env: map[string]string{"T": "x"}},
		{
			name: "every interface, no token",
			yaml: "log: {level: info}\nadmin:\n  listen: 0.0.0.0:9901\n",
			want: `ficus.yaml:3:3: admin.listen: "0.0.0.0:9901" is not loopback, so admin.token is required: anyone who can reach the listener could change routes; set admin.token (token: ${FICUS_ADMIN_TOKEN}), or listen on 127.0.0.1`,
		},
		{
			name: "a host name counts as the network",
			yaml: "admin:\n  listen: ficus.internal:9901\n",
			want: `ficus.yaml:2:3: admin.listen: "ficus.internal:9901" is not loopback, so admin.token is required: anyone who can reach the listener could change routes; set admin.token (token: ${FICUS_ADMIN_TOKEN}), or listen on 127.0.0.1`,
		},
		{
			name: "empty variable",
			yaml: "admin:\n  listen: '[::]:9901'\n  token: ${FICUS_ADMIN_TOKEN}\n",
			env:  map[string]string{"FICUS_ADMIN_TOKEN": ""},
			want: `ficus.yaml:3:3: admin.token: "${FICUS_ADMIN_TOKEN}" expands to an empty token, but admin.listen "[::]:9901"` + tail + "set FICUS_ADMIN_TOKEN, or listen on 127.0.0.1",
		},
		{
			name: "unset variable with an empty default",
			yaml: "admin:\n  listen: 10.0.0.5:9901\n  token: ${FICUS_ADMIN_TOKEN:-}\n",
			want: `ficus.yaml:3:3: admin.token: "${FICUS_ADMIN_TOKEN:-}" expands to an empty token, but admin.listen "10.0.0.5:9901"` + tail + "set FICUS_ADMIN_TOKEN, or listen on 127.0.0.1",
		},
		{
			name: "unset variable",
			yaml: "admin:\n  listen: 0.0.0.0:9901\n  token: ${FICUS_ADMIN_TOKEN}\n",
			want: `ficus.yaml:3:3: admin.token: environment variable FICUS_ADMIN_TOKEN is not set`,
		},
		{
			name: "empty literal",
			yaml: "admin:\n  listen: 0.0.0.0:9901\n  token: ''\n",
			want: `ficus.yaml:3:3: admin.token: empty, but admin.listen "0.0.0.0:9901"` + tail + "set a token (token: ${FICUS_ADMIN_TOKEN}), or listen on 127.0.0.1",
		},
		{
			name:    "empty variable on loopback warns",
			yaml:    "admin:\n  token: ${FICUS_ADMIN_TOKEN}\n",
			env:     map[string]string{"FICUS_ADMIN_TOKEN": ""},
			warning: `ficus.yaml:2:3: admin.token: warning: "${FICUS_ADMIN_TOKEN}" expands to an empty token: the admin API takes changes from any local process without one (allowed because admin.listen is loopback)`,
		},
		{
			name: "bad allowed host",
			yaml: "admin:\n  allowed_hosts: [ficus.example, 'ficus.example/x']\n",
			want: `ficus.yaml:2:34: admin.allowed_hosts[1]: expected a host or host:port as a browser sends it in Host, such as ficus.example or ficus.example:9901 (no scheme, no path), got "ficus.example/x"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadBytes("ficus.yaml", []byte(tt.yaml), lookup(tt.env))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("loaded without error, want %s", tt.want)
			case tt.want != "" && err.Error() != tt.want:
				t.Fatalf("got  %s\nwant %s", err, tt.want)
			case err != nil:
				return
			}
			got := ""
			if w := c.Warnings(); len(w) > 0 {
				got = w.Error()
			}
			if got != tt.warning {
				t.Errorf("warnings:\ngot  %q\nwant %q", got, tt.warning)
			}
		})
	}
}

func TestAllowedHosts(t *testing.T) {
	c, err := LoadBytes("ficus.yaml", []byte("admin:\n  allowed_hosts: [ficus.example, 'ficus.example:9901', '[::1]', '::1']\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ficus.example", "ficus.example:9901", "[::1]", "::1"}
	if !reflect.DeepEqual(c.Admin.AllowedHosts, want) {
		t.Errorf("allowed_hosts = %q, want %q", c.Admin.AllowedHosts, want)
	}
}
