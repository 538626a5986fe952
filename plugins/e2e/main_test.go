// Package e2e runs the example plugins as real child processes against real
// PostgreSQL, NATS and HTTP servers.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// bins holds the plugin executables, built once for the package.
var bins = map[string]string{}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ficus-plugins-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		for name, pkg := range map[string]string{
			"order-mapper":     "../examples/order-mapper",
			"cents-comparator": "../examples/cents-comparator",
		} {
			out := filepath.Join(dir, name)
			if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, b)
				return 1
			}
			bins[name] = out
		}
		return m.Run()
	}()
	os.Exit(code)
}
