package deploy_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/ficus-migrate/ficus/internal/config"
)

// readFile reads a file of this folder (tests run in deploy/).
func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeDocs parses every document of a (multi-document) YAML stream into
// generic maps; empty documents are skipped.
func decodeDocs(data []byte) ([]map[string]any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []map[string]any
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", len(docs)+1, err)
		}
		if m != nil {
			docs = append(docs, m)
		}
	}
}

// dig walks maps (string keys) and lists (int indexes); nil when absent.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	default:
		return fmt.Sprint(x)
	}
}

func list(v any) []any { l, _ := v.([]any); return l }

func mapOf(v any) map[string]any { m, _ := v.(map[string]any); return m }

// strs returns a YAML list of scalars as strings.
func strs(v any) []string {
	var out []string
	for _, x := range list(v) {
		out = append(out, str(x))
	}
	return out
}

// loadFicus runs the real config loader on an embedded ficus.yaml with exactly
// the environment the process would get.
func loadFicus(name string, text []byte, env map[string]string) (*config.Config, error) {
	return config.LoadBytes(name, text, func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
}

// listenPort splits a listen address; the port is -1 when it cannot be read.
func listenPort(addr string) (host string, port int) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", -1
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return h, -1
	}
	return h, n
}

// wildcard reports whether a listen host accepts connections from outside the
// container or pod (kubelet probes and published ports arrive there).
func wildcard(host string) bool { return host == "" || host == "0.0.0.0" || host == "::" }

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// configArg returns the -c/--config value of a command line, if any.
func configArg(args []string) string {
	for i, a := range args {
		switch {
		case (a == "-c" || a == "--config" || a == "-config") && i+1 < len(args):
			return args[i+1]
		case strings.HasPrefix(a, "-c="), strings.HasPrefix(a, "--config="):
			return a[strings.Index(a, "=")+1:]
		}
	}
	return ""
}

// problems collects what a checker found; tests compare them with expectations.
type problems []string

func (p *problems) addf(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// expectProblems fails unless got is empty (want == "") or one of got
// contains want.
func expectProblems(t *testing.T, got problems, want string) {
	t.Helper()
	if want == "" {
		for _, p := range got {
			t.Error(p)
		}
		return
	}
	for _, p := range got {
		if strings.Contains(p, want) {
			return
		}
	}
	t.Errorf("expected a problem containing %q, got %d:\n  %s", want, len(got), strings.Join(got, "\n  "))
}
