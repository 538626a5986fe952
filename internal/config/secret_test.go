package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMaskDSN(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"postgres://app:s3cret@127.0.0.1:5432/shop?sslmode=disable", "postgres://app:REDACTED@127.0.0.1:5432/shop?sslmode=disable"},
		{"postgres://app@127.0.0.1/shop", "postgres://app@127.0.0.1/shop"},
		{"postgres://app@h/shop?password=s3cret&sslmode=require", "postgres://app@h/shop?password=REDACTED&sslmode=require"},
		{"nats://u:s3cret@127.0.0.1:4222", "nats://u:REDACTED@127.0.0.1:4222"},
		{"repl:s3cret@tcp(127.0.0.1:3306)/shop", "repl:REDACTED@tcp(127.0.0.1:3306)/shop"},
		{"repl:s3c://ret@tcp(127.0.0.1:3306)/shop", "repl:REDACTED@tcp(127.0.0.1:3306)/shop"},
		{"repl@tcp(127.0.0.1:3306)/shop", "repl@tcp(127.0.0.1:3306)/shop"},
		{"postgres://app:s3cret@h:port/db", "REDACTED"},
		{"not a dsn s3cret", "REDACTED"},
	}
	for _, tt := range tests {
		if got := MaskDSN(tt.in); got != tt.want {
			t.Errorf("MaskDSN(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func loadFull(t *testing.T) *Config {
	t.Helper()
	c, err := Load(filepath.Join(testdataDir, "full.yaml"), lookup(testEnv))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestNoSecretInOutput prints the full config every way a caller might and
// checks that no secret from testEnv shows up.
func TestNoSecretInOutput(t *testing.T) {
	c := loadFull(t)
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("config", "cfg", c, "token", c.Admin.Token, "src", c.Capture.Sources[0])
	slog.New(slog.NewJSONHandler(&js, nil)).Info("config", "cfg", c, "token", c.Admin.Token, "src", c.Capture.Sources[0])
	jsonOut, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v":        fmt.Sprintf("%v", c),
		"%+v value": fmt.Sprintf("%+v", *c),
		"%#v value": fmt.Sprintf("%#v", *c),
		"%s token":  fmt.Sprintf("%s", c.Admin.Token),
		"%q token":  fmt.Sprintf("%q", c.Admin.Token),
		"%v dsn":    fmt.Sprintf("%v", c.Capture.Sources),
		"%#v dsn":   fmt.Sprintf("%#v", c.Capture.Sources[1].DSN),
		"json":      string(jsonOut),
		"slog text": text.String(),
		"slog json": js.String(),
		"redacted":  c.Redacted(),
	}
	for name, out := range outputs {
		if strings.Contains(out, "s3cret") {
			t.Errorf("%s leaks a secret:\n%s", name, out)
		}
		if !strings.Contains(out, "REDACTED") {
			t.Errorf("%s shows no REDACTED marker:\n%s", name, out)
		}
	}
	if c.Admin.Token.Reveal() != "s3cret-token" || !strings.Contains(c.Capture.Sources[0].DSN.Reveal(), "s3cret") {
		t.Error("Reveal does not return the secret")
	}
}

// TestRedacted compares the dump of full.yaml with its golden file and
// checks that the dump is itself a valid config that dumps the same.
func TestRedacted(t *testing.T) {
	c := loadFull(t)
	got := c.Redacted()
	golden := filepath.Join(testdataDir, "config", "full.redacted.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("Redacted() differs from %s:\n%s", golden, got)
	}
	again, err := LoadBytes("redacted.yaml", []byte(got), lookup(nil))
	if err != nil {
		t.Fatalf("the redacted dump does not load: %v", err)
	}
	if again.Redacted() != got {
		t.Errorf("reloaded dump differs:\n%s", again.Redacted())
	}
}
