package config

import (
	"reflect"
	"strings"
	"testing"
)

const testNKey = "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4"

func TestEmbeddedAuth(t *testing.T) {
	env := map[string]string{"PW": "s3cret-pw", "EMPTY": ""}
	for _, tc := range []struct {
		name  string
		yaml  string
		want  EmbeddedAuth // when err is ""
		ficus int
		err   string
	}{
		{name: "none: generated credentials", yaml: "nats: {embedded: {listen: '127.0.0.1:4222'}}", ficus: -1},
		{name: "first user is ficus's", yaml: "nats: {embedded: {auth: {users: [{user: a, password: '${PW}'}, {nkey: " + testNKey + "}]}}}",
			want: EmbeddedAuth{Users: []NATSUser{{User: "a", Password: "s3cret-pw"}, {NKey: testNKey}}}},
		{name: "marked user is ficus's", yaml: "nats: {embedded: {auth: {users: [{nkey: " + testNKey + "}, {user: f, password: p, ficus: true}]}}}",
			want: EmbeddedAuth{Users: []NATSUser{{NKey: testNKey}, {User: "f", Password: "p", Ficus: true}}}, ficus: 1},
		{name: "missing list allows, empty list forbids",
			yaml: "nats: {embedded: {auth: {users: [{user: f, password: p}, {user: r, password: p, permissions: {publish: []}}]}}}",
			want: EmbeddedAuth{Users: []NATSUser{{User: "f", Password: "p"}, {User: "r", Password: "p", Permissions: &NATSPermissions{Publish: []string{}}}}}},
		{name: "empty auth", yaml: "nats: {embedded: {auth: {}}}", err: "nats.embedded.auth.users: list at least one user"},
		{name: "empty users", yaml: "nats: {embedded: {auth: {users: []}}}", err: "nats.embedded.auth.users: list at least one user"},
		{name: "ficus's user by nkey", yaml: "nats: {embedded: {auth: {users: [{nkey: " + testNKey + "}, {user: a, password: b}]}}}",
			err: "users[0].nkey: ficus connects as this user (the first; mark another with ficus: true), so it needs user and password"},
		{name: "empty password from the environment", yaml: "nats: {embedded: {auth: {users: [{user: a, password: '${EMPTY}'}]}}}",
			err: "users[0].password: required with user"},
		{name: "user without password", yaml: "nats: {embedded: {auth: {users: [{user: a}]}}}", err: "users[0].password: required with user"},
		{name: "tls without key", yaml: "nats: {embedded: {tls: {cert: c.pem}}}", err: "nats.embedded.tls.cert: requires key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadBytes("t.yaml", []byte(tc.yaml), lookup(env))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("the password leaks: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.NATS.Embedded.Auth, tc.want) {
				t.Errorf("auth = %#v\nwant %#v", c.NATS.Embedded.Auth, tc.want)
			}
			if got := c.NATS.Embedded.Auth.FicusIndex(); got != tc.ficus {
				t.Errorf("FicusIndex = %d, want %d", got, tc.ficus)
			}
			if strings.Contains(c.Redacted(), "s3cret") {
				t.Errorf("the password shows in the dump:\n%s", c.Redacted())
			}
		})
	}
}

func TestCheckSubjectPattern(t *testing.T) {
	for _, tc := range []struct {
		s  string
		ok bool
	}{
		{"ficus.cdc.>", true}, {">", true}, {"*", true}, {"$KV.ficus_routes.*", true}, {"_INBOX.>", true},
		{"a.*.c", true}, {"ficus.>.x", false}, {"a..b", false}, {".a", false}, {"a.", false},
		{"f*", false}, {"a>", false}, {"a b", false}, {"a\tb", false}, {"", false},
	} {
		if got := checkSubjectPattern(tc.s) == ""; got != tc.ok {
			t.Errorf("checkSubjectPattern(%q) ok = %v, want %v", tc.s, got, tc.ok)
		}
	}
}
