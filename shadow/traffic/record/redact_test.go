package record

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/ficus-migrate/ficus/shadow/redact"
	"github.com/ficus-migrate/ficus/shadow/traffic/diff"
)

func TestBuild(t *testing.T) {
	red, err := redact.New(redact.Config{Rules: redact.Rules{Headers: []string{"X-Tenant"}}, Key: []byte("test-key-0123456789")})
	if err != nil {
		t.Fatal(err)
	}
	in := Input{
		Mismatch: Mismatch{
			Path:          "/login?next=/home&code=s3cret-code",
			RequestHeader: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "X-Tenant": {"s3cret-tenant"}},
			Legacy:        Answer{Header: http.Header{"Content-Type": {"text/plain"}}},
			New:           Answer{Header: http.Header{"Content-Type": {"application/json"}}},
			Diffs: []diff.Diff{{Path: "body:line:2", Kind: "value",
				Legacy: json.RawMessage(`"legacy=password=s3cret-pw"`), New: json.RawMessage(`"you are s3cret-tenant"`)}},
			Signature: "body:line:2",
		},
		RequestBody: []byte("user=bob&password=s3cret-pw"),
		LegacyBody:  []byte("ok\nlegacy=password=s3cret-pw\n" + strings.Repeat("x", 100)),
		NewBody:     []byte(`{"echo":"s3cret-code"}`),
	}
	m := build(red, in, 64)
	b, _ := json.Marshal(m)
	if strings.Contains(string(b), "s3cret") {
		t.Fatalf("a secret is in the record:\n%s", b)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"path", m.Path, "/login?next=/home&code=" + red.Mark("s3cret-code")},
		{"request body", m.RequestBody, "user=bob&password=" + red.Mark("s3cret-pw")},
		// The diff line hashes the password as the body next to it does.
		{"diff line", string(m.Diffs[0].Legacy), `"legacy=password=` + red.Mark("s3cret-pw") + `"`},
		{"echo in a diff", string(m.Diffs[0].New), `"you are ` + red.Mark("s3cret-tenant") + `"`},
		{"echo in a body", m.New.Body, `{"echo":"` + red.Mark("s3cret-code") + `"}`},
		{"legacy body capped", len(m.Legacy.Body), 64},
		{"legacy body cut", m.Legacy.BodyTruncated, true},
		{"redaction", m.Redaction, Hashed},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// TestRecheck: records of an older ficus, read back by the report, are
// redacted again; records of this one are left as written.
func TestRecheck(t *testing.T) {
	old := Mismatch{
		Path:          "/a?Password=REDACTED&key=s3cret-key",
		RequestHeader: http.Header{"X-Api-Key": {"s3cret-api"}, "Authorization": {"REDACTED"}},
		RequestBody:   `{"pin":"s3cret-pin","password":"REDACTED"}`,
		Diffs: []diff.Diff{{Path: "body:line:2", Kind: "value",
			Legacy: json.RawMessage(`"password=s3cret-pw"`), New: json.RawMessage(`"password=REDACTED"`)}},
	}
	got := Recheck(old)
	b, _ := json.Marshal(got)
	if strings.Contains(string(b), "s3cret") {
		t.Errorf("an old record keeps a secret:\n%s", b)
	}
	if got.Path != "/a?Password=REDACTED&key=REDACTED" || string(got.Diffs[0].Legacy) != `"password=REDACTED"` {
		t.Errorf("rechecked: %s", b)
	}
	current := old
	current.Redaction = Hashed
	if b2, _ := json.Marshal(Recheck(current)); !strings.Contains(string(b2), "s3cret-pin") {
		t.Error("a record of this version was changed on reading")
	}
}
