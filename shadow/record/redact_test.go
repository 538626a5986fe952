package record

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/ficus-migrate/ficus/shadow/diff"
)

func TestBody(t *testing.T) {
	r := NewRedactor(nil, 80)
	for _, tc := range []struct {
		name, in, want string
		cut            bool
	}{
		{"json", `{"a":1,"password":"s3cret"}`, `{"a":1,"password":"REDACTED"}`, false},
		{"nested json", `{"user":{"api_key":"s3cret","n":"x"},"l":[{"Token":"s3cret"}]}`, `{"l":[{"Token":"REDACTED"}],"user":{"api_key":"REDACTED","n":"x"}}`, false},
		{"secret object", `{"secret":{"k":"s3cret"}}`, `{"secret":"REDACTED"}`, false},
		{"form", `user=bob&password=s3cret&x=1`, `user=bob&password=REDACTED&x=1`, false},
		{"json cut inside a secret", `{"padding":"aaaaaaaaaaaa","token":"s3cret-but-cut-off-by-the-cap`, `{"padding":"aaaaaaaaaaaa","token":"REDACTED"`, false},
		{"text pair", `note "secret_value": 12345 end`, `note "secret_value": "REDACTED" end`, false},
		{"capped", strings.Repeat("x", 100), strings.Repeat("x", 80), true},
		{"binary", "\xff\xfe\x00s3cret", "(binary body not recorded)", true},
		{"empty", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, cut := r.Body([]byte(tc.in))
			if got != tc.want || cut != tc.cut {
				t.Errorf("Body(%q) = %q, %v; want %q, %v", tc.in, got, cut, tc.want, tc.cut)
			}
		})
	}
}

func TestHeaderAndPath(t *testing.T) {
	r := NewRedactor([]string{"x-api-key"}, 1024)
	h := r.Header(http.Header{
		"Authorization": {"Bearer s3cret"}, "Cookie": {"a=s3cret", "b=s3cret"}, "Set-Cookie": {"s3cret"},
		"Proxy-Authorization": {"s3cret"}, "X-Api-Key": {"s3cret"}, "Accept": {"*/*"},
	})
	for k, vs := range h {
		for _, v := range vs {
			if strings.Contains(v, "s3cret") {
				t.Errorf("header %s kept its secret", k)
			}
		}
	}
	if h.Get("Accept") != "*/*" || len(h["Cookie"]) != 2 {
		t.Errorf("redacted too much: %v", h)
	}
	for _, tc := range []struct{ path, query, want string }{
		{"/a", "", "/a"},
		{"/a", "id=1&token=s3cret", "/a?id=1&token=REDACTED"},
		{"/a", "Password=s3cret", "/a?Password=REDACTED"},
		{"/a", "bad=%zz", "/a?REDACTED"},
	} {
		if got := r.PathQuery(tc.path, tc.query); got != tc.want {
			t.Errorf("PathQuery(%q, %q) = %q, want %q", tc.path, tc.query, got, tc.want)
		}
	}
}

func TestDiffs(t *testing.T) {
	r := NewRedactor(nil, 1024)
	ds := r.Diffs([]diff.Diff{
		{Path: "$.user.password", Kind: "value", Legacy: json.RawMessage(`"s3cret1"`), New: json.RawMessage(`"s3cret2"`)},
		{Path: "header:Set-Cookie", Kind: "value", Legacy: json.RawMessage(`"s3cret"`)},
		{Path: "$.user", Kind: "missing", Legacy: json.RawMessage(`{"name":"bob","token":"s3cret"}`)},
		{Path: "$.price", Kind: "value", Legacy: json.RawMessage(`10`), New: json.RawMessage(`12`)},
	})
	b, _ := json.Marshal(ds)
	if strings.Contains(string(b), "s3cret") {
		t.Errorf("a secret survived: %s", b)
	}
	if string(ds[3].Legacy) != "10" || string(ds[3].New) != "12" || !strings.Contains(string(ds[2].Legacy), "bob") {
		t.Errorf("redacted too much: %s", b)
	}
}
