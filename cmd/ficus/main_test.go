package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `ficus validate` prints exactly the golden messages for every broken config and
// exits 1; good configs give a one-line summary and exit 0.
func TestValidateGolden(t *testing.T) {
	// Run where the files are, so messages carry the file name as a user would type it.
	t.Chdir("../../testdata/config")
	setEnvFile(t, "golden.env")
	t.Setenv("LEGACY_PG_DSN", "") // restored after the test; unset for it
	if err := os.Unsetenv("LEGACY_PG_DSN"); err != nil {
		t.Fatal(err)
	}
	broken, _ := filepath.Glob("broken_*.yaml")
	if len(broken) < 8 {
		t.Fatalf("want at least 8 broken configs, found %d", len(broken))
	}
	for _, f := range broken {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want, err := os.ReadFile(strings.TrimSuffix(f, ".yaml") + ".golden")
			if err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			code := realMain(context.Background(), []string{"validate", "-c", f}, &out, &errb)
			if code != 1 {
				t.Fatalf("exit %d, want 1 (stderr %q)", code, errb.String())
			}
			if got := strings.TrimSpace(out.String()); got != strings.TrimSpace(string(want)) {
				t.Fatalf("output:\n%s\nwant:\n%s", got, want)
			}
		})
	}
	t.Setenv("LEGACY_PG_DSN", "postgres://ficus@127.0.0.1:5432/shop")
	for _, f := range []string{"../minimal.yaml", "../full.yaml"} {
		var out bytes.Buffer
		code := realMain(context.Background(), []string{"validate", "-c", f}, &out, io.Discard)
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if code != 0 || len(lines) != 1 || !strings.Contains(lines[0], ": ok: ") {
			t.Errorf("validate %s: exit %d, output %q", f, code, out.String())
		}
	}
}

// setEnvFile sets the KEY=VALUE lines of a file for the test's duration.
func setEnvFile(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			t.Setenv(k, v)
		}
	}
}

func TestHelpNamesConfigKeys(t *testing.T) {
	for _, c := range commands() {
		var out bytes.Buffer
		code := realMain(context.Background(), []string{c.name, "--help"}, &out, &out)
		if code != 0 || !strings.Contains(out.String(), "Usage: ficus") {
			t.Errorf("%s --help: exit %d, %q", c.name, code, out.String())
		}
		if c.name != "version" && !strings.Contains(out.String(), "Config keys read:") {
			t.Errorf("%s --help does not say which config keys it reads", c.name)
		}
	}
	var out bytes.Buffer
	if code := realMain(context.Background(), []string{"nope"}, &out, &out); code != 2 {
		t.Errorf("unknown command exit %d", code)
	}
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// The config: admin on every interface, token from a variable that
// is empty. Loading it fails at the token's line, naming the variable, for
// `ficus validate` and `ficus run` alike.
func TestOpenAdminConfigRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ficus.yaml")
	writeFile(t, cfg, "log: {level: info}\nadmin:\n  listen: 0.0.0.0:9901\n  token: ${FICUS_ADMIN_TOKEN}\n")
	t.Setenv("FICUS_ADMIN_TOKEN", "")
	want := cfg + `:4:3: admin.token: "${FICUS_ADMIN_TOKEN}" expands to an empty token, but admin.listen "0.0.0.0:9901" is not loopback: ` +
		"anyone who can reach the listener could change routes; set FICUS_ADMIN_TOKEN, or listen on 127.0.0.1"
	tests := []struct {
		args []string
		out  func(stdout, stderr string) string
	}{
		{[]string{"validate", "-c", cfg}, func(stdout, _ string) string { return stdout }},
		{[]string{"run", "-c", cfg}, func(_, stderr string) string { return stderr }},
	}
	for _, tt := range tests {
		t.Run(tt.args[0], func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := realMain(context.Background(), tt.args, &stdout, &stderr)
			if got := strings.TrimSpace(tt.out(stdout.String(), stderr.String())); code != 1 || got != want {
				t.Fatalf("exit %d, output:\n%s\nwant exit 1 and:\n%s", code, got, want)
			}
		})
	}
	// On loopback the same empty token is a warning, and validate passes.
	writeFile(t, cfg, "admin:\n  listen: 127.0.0.1:9901\n  token: ${FICUS_ADMIN_TOKEN}\n")
	var stdout, stderr bytes.Buffer
	if code := realMain(context.Background(), []string{"validate", "-c", cfg}, &stdout, &stderr); code != 0 ||
		!strings.Contains(stderr.String(), cfg+":3:3: admin.token: warning: ") || !strings.Contains(stdout.String(), ": ok: ") {
		t.Fatalf("loopback: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
}

// `ficus validate --subjects` prints the subject each listed table's changes
// go to: mapped names, or the entry's override; a bad override is refused
// with its file:line.
func TestValidateSubjects(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "ficus.yaml")
	writeFile(t, cfg, `capture:
  sources:
    - name: shop
      type: postgres
      dsn: postgres://ficus@127.0.0.1:5432/shop
      tables:
        - public.orders
        - public.Weird Table
        - {table: '"public"."a.b"', subject: ab}
        - public.Größe$
    - name: legacy
      type: mysql
      dsn: ficus:pw@tcp(127.0.0.1:3306)/legacy
      server_id: 9
`)
	var stdout bytes.Buffer
	if code := realMain(context.Background(), []string{"validate", "--subjects", "-c", cfg}, &stdout, io.Discard); code != 0 {
		t.Fatalf("exit %d: %s", code, stdout.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	want := []string{
		`shop: "public.orders" -> ficus.cdc.shop.public.orders`,
		`shop: "public.Weird Table" -> ficus.cdc.shop.public.Weird%20Table`,
		`shop: "public.a.b" -> ficus.cdc.shop.public.ab`,
		`shop: "public.Größe$" -> ficus.cdc.shop.public.Gr%C3%B6%C3%9Fe%24`,
		`legacy: every table -> ficus.cdc.legacy.<schema>.<table> (names mapped to subject tokens)`,
	}
	if len(lines) != 1+len(want) || strings.Join(lines[1:], "\n") != strings.Join(want, "\n") {
		t.Fatalf("output:\n%s\nwant the summary and:\n%s", stdout.String(), strings.Join(want, "\n"))
	}

	writeFile(t, cfg, "capture:\n  sources:\n    - name: shop\n      type: postgres\n      dsn: postgres://ficus@127.0.0.1:5432/shop\n"+
		"      tables: [{table: public.Weird Table, subject: weird table}]\n")
	stdout.Reset()
	code := realMain(context.Background(), []string{"validate", "--subjects", "-c", cfg}, &stdout, io.Discard)
	if wantErr := cfg + ":6:44: capture.sources[0].tables[0].subject: expected one NATS subject token"; code != 1 || !strings.HasPrefix(stdout.String(), wantErr) {
		t.Fatalf("exit %d, output %q; want exit 1 and %q...", code, stdout.String(), wantErr)
	}
}
