package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzLoad checks, for any input, that LoadBytes does not panic, that every
// error is positioned (or is a YAML syntax error), that loading is
// deterministic, that no secret from the environment leaks into messages or
// dumps, and that the redacted dump of a valid config is itself valid and
// dumps the same.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join(testdataDir, "config", "*.yaml"))
	seeds = append(seeds, filepath.Join(testdataDir, "minimal.yaml"), filepath.Join(testdataDir, "full.yaml"))
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(aliasBomb()))
	// Inputs that crashed yaml parsers in the past, and odd corners.
	for _, s := range []string{
		"\"\\0\\\r\n", "  0: [\n] 0", "? ? \"\n\" 0", "    - {\n000}0", " \ufeff\n", "? \ufeff:\n",
		"#\n - - QI\xd7", "a:\n.\n-\n", "! !00 \xf6", "#\n-\n-\n0", "0: [:!00 \xef", "{{},<<}",
		"- - - - - - - - {\n0}0\n---", "0: \n  0: [0\n0]0", "#\n-\n{",
		"log: {<<: 5}", "log: &a {<<: *a}", "proxy: {routes: [&r {name: a}, *r]}",
		"admin: {token: ${FICUS_ADMIN_TOKEN}}", "nats: {url: '${SHOP_PG_DSN}'}",
		"capture: {sources: [{name: a, type: mysql, dsn: '${SHOP_MYSQL_DSN}', server_id: 1}]}",
		`capture: {sources: [{name: a, type: postgres, dsn: 'postgres://u@h/d', tables: [public.a, {table: '"p"."a.b"', subject: x}, '"q"""."""']}]}`,
	} {
		f.Add([]byte(s))
	}
	env := lookup(testEnv)
	f.Fuzz(func(t *testing.T, data []byte) {
		c1, err1 := LoadBytes("fuzz.yaml", data, env)
		c2, err2 := LoadBytes("fuzz.yaml", data, env)
		// The input itself may spell a secret; only secrets that came
		// from the environment must never appear.
		checkLeak := !bytes.Contains(data, []byte("s3cret"))
		if err1 != nil {
			var errs Errors
			if !errors.As(err1, &errs) || len(errs) == 0 {
				t.Fatalf("error is %T %v, want non-empty Errors", err1, err1)
			}
			for _, e := range errs {
				if e.File != "fuzz.yaml" || e.Msg == "" {
					t.Errorf("bad error %#v", e)
				}
				if e.Line <= 0 && !strings.HasPrefix(e.Msg, "yaml:") {
					t.Errorf("error without a line that is not a YAML syntax error: %v", e)
				}
			}
			if err2 == nil || err1.Error() != err2.Error() {
				t.Fatalf("second load gave a different result:\n%v\n---\n%v", err1, err2)
			}
			if checkLeak && strings.Contains(err1.Error(), "s3cret") {
				t.Fatalf("secret in error messages:\n%v", err1)
			}
			return
		}
		if err2 != nil || !reflect.DeepEqual(c1, c2) {
			t.Fatalf("second load gave a different result: %v", err2)
		}
		dump := c1.Redacted()
		if checkLeak {
			checkSecretsHidden(t, c1, dump)
		}
		// "$" in a dumped value would be expanded again on reload.
		if strings.Contains(dump, "$") {
			return
		}
		c3, err := LoadBytes("dump.yaml", []byte(dump), env)
		if err != nil {
			t.Fatalf("redacted dump does not load: %v\n%s", err, dump)
		}
		if again := c3.Redacted(); again != dump {
			t.Fatalf("reloaded dump differs:\n%s\n---\n%s", dump, again)
		}
	})
}

// checkSecretsHidden checks the printed forms of the secret-typed fields.
// Non-secret keys may legitimately show an environment value the input put
// there (name: ${FICUS_ADMIN_TOKEN}), so the dump is checked line by line.
func checkSecretsHidden(t *testing.T, c *Config, dump string) {
	t.Helper()
	shown := []string{c.Admin.Token.String()}
	for _, u := range c.NATS.URLs {
		shown = append(shown, u.String())
	}
	for _, s := range c.Capture.Sources {
		shown = append(shown, s.DSN.String())
	}
	for _, line := range strings.Split(dump, "\n") {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, "token:") || strings.HasPrefix(l, "dsn:") {
			shown = append(shown, l)
		}
	}
	for _, s := range shown {
		if strings.Contains(s, "s3cret") {
			t.Fatalf("secret shown: %q\n%s", s, dump)
		}
	}
}
