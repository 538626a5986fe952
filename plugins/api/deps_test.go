package api_test

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestCoreStaysFreeOfPluginMachinery guards the reason this package exists:
// capture, shadow and proxy use plugins through plugins/api, and only
// cmd/ficus wires in plugins/host, so go-plugin and gRPC stay out of the
// core's build.
func TestCoreStaysFreeOfPluginMachinery(t *testing.T) {
	// go test puts its own GOROOT/bin first on PATH.
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list dependencies with")
	}
	const mod = "github.com/ficus-migrate/ficus/"
	cmd := exec.Command(goBin, "list", "-deps", mod+"plugins/api", mod+"capture/...", mod+"shadow/...", mod+"proxy/...")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("go list: %v\n%s", err, stderr)
	}
	var bad []string
	for _, pkg := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/hashicorp/go-plugin", "google.golang.org/grpc"} {
			if pkg == banned || strings.HasPrefix(pkg, banned+"/") {
				bad = append(bad, pkg)
			}
		}
	}
	if len(bad) > 0 {
		t.Errorf("capture, shadow or proxy depends on %d plugin-machinery packages (import plugins/api, not plugins/sdk or plugins/host; `go list -deps` shows the path):\n%s",
			len(bad), strings.Join(bad, "\n"))
	}
}
