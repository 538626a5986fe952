package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/config")

// testdataDir is the repository's top-level testdata directory.
const testdataDir = "../../testdata"

// testEnv is the environment the fixtures are loaded with (testdata/config/golden.env,
// shared with the `ficus validate` golden test) plus LEGACY_PG_DSN, which the
// golden run leaves out. Every secret contains "s3cret" so tests can check that
// none leaks into messages.
var testEnv = func() map[string]string {
	env := readEnvFile(filepath.Join(testdataDir, "config", "golden.env"))
	env["LEGACY_PG_DSN"] = "postgres://app:s3cret-pg@127.0.0.1:5432/legacy"
	return env
}()

// readEnvFile reads KEY=VALUE lines; # starts a comment line.
func readEnvFile(path string) map[string]string {
	data, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			env[k] = v
		}
	}
	return env
}

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

// without returns testEnv minus the named variables.
func without(names ...string) map[string]string {
	out := map[string]string{}
	for k, v := range testEnv {
		out[k] = v
	}
	for _, n := range names {
		delete(out, n)
	}
	return out
}

// lineFormat is the shape of every message: file:line[:col]: [path: ]msg.
var lineFormat = regexp.MustCompile(`^broken_[a-z_]+\.yaml:[1-9][0-9]*(:[1-9][0-9]*)?: \S.*$`)

// TestBrokenConfigs loads each testdata/config/broken_*.yaml and compares
// the Errors text (what `ficus validate` prints) with broken_*.golden.
func TestBrokenConfigs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testdataDir, "config", "broken_*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 12 {
		t.Fatalf("found %d broken configs, want at least 12", len(files))
	}
	// The missing-variable fixture is about LEGACY_PG_DSN being unset.
	env := lookup(without("LEGACY_PG_DSN"))
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			c, err := LoadBytes(name, data, env)
			if err == nil {
				t.Fatalf("loaded without error:\n%s", c.Redacted())
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, want Errors", err)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
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
				t.Errorf("errors differ from %s\ngot:\n%swant:\n%s", golden, got, want)
			}
			for _, line := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
				if !lineFormat.MatchString(line) {
					t.Errorf("badly formatted line %q", line)
				}
			}
			if strings.Contains(got, "s3cret") {
				t.Errorf("a secret leaked into the messages:\n%s", got)
			}
			for i := 1; i < len(errs); i++ {
				a, b := errs[i-1], errs[i]
				if a.Line > b.Line || (a.Line == b.Line && a.Column > b.Column) {
					t.Errorf("errors not sorted by position: %v before %v", a, b)
				}
			}
		})
	}
}

// TestErrorPositions pins a few messages from the contract exactly.
func TestErrorPositions(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want string
	}{
		{
			name: "unknown key with suggestion",
			yaml: "log:\n  level: info\nproxy:\n  lisen: 127.0.0.1:8080\n",
			want: `ficus.yaml:4:3: proxy.lisen: unknown key (did you mean "listen"?)`,
		},
		{
			name: "weight not a number",
			yaml: "proxy:\n  legacy: http://l\n  routes:\n    - name: a\n      new: http://n\n      weight: abc\n",
			want: `ficus.yaml:6:7: proxy.routes[0].weight: expected a number, got "abc"`,
		},
		{
			name: "weight from env",
			yaml: "proxy:\n  legacy: http://l\n  routes:\n    - {name: a, new: 'http://n', weight: '${W}'}\n",
			env:  map[string]string{"W": "1e3"},
			want: `ficus.yaml:4:34: proxy.routes[0].weight: must be between 0 and 100, got 1000`,
		},
		{
			name: "missing env var",
			yaml: "capture:\n  sources:\n    - name: legacy\n      type: postgres\n      dsn: ${LEGACY_PG_DSN}\n",
			want: `ficus.yaml:5:7: capture.sources[0].dsn: environment variable LEGACY_PG_DSN is not set`,
		},
		{
			name: "syntax error on the first line",
			yaml: "log: {level: info\n",
			want: `ficus.yaml:1:6: yaml: did not find expected ',' or '}'`,
		},
		{
			name: "syntax error line",
			yaml: "log:\n  level: info\nproxy:\n  legacy: [\n",
			want: `ficus.yaml:4: yaml: did not find expected node content`,
		},
		{
			name: "control character",
			yaml: "log:\n  level: info\x01\n",
			want: `ficus.yaml:2:14: yaml: control characters are not allowed`,
		},
		{
			name: "unknown anchor",
			yaml: "log:\n  level: *lvl\n",
			want: `ficus.yaml:2:10: yaml: unknown anchor 'lvl' referenced`,
		},
		{
			name: "non-string key",
			yaml: "proxy:\n  [a]: 1\n",
			want: `ficus.yaml:2:3: proxy: keys must be strings, got a list`,
		},
		{
			name: "quoted odd key",
			yaml: "proxy:\n  \"a b\": 1\n",
			want: `ficus.yaml:2:3: proxy["a b"]: unknown key (expected one of: listen, mode, legacy, served_by_header, max_header_bytes, timeouts, max_request_body_bytes, request_buffer_bytes, mitm, forward, routes)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadBytes("ficus.yaml", []byte(tt.yaml), lookup(tt.env))
			if err == nil {
				t.Fatal("loaded without error")
			}
			if err.Error() != tt.want {
				t.Errorf("got  %s\nwant %s", err, tt.want)
			}
		})
	}
}
