// Command testsplit divides the module's packages between the two runs of
// `make test`, from what their tests do.
//
// A package whose tests start processes runs without the race detector: the
// throwaway PostgreSQL and MariaDB servers and the NATS cluster of
// internal/testenv, the real ficus binary (e2e/), plugins, tools. There the
// detector would watch only the test's side of those processes while
// slowing down their workloads by minutes. Every other package runs with it.
// A test says it starts processes by what it already does: it imports
// os/exec, or it uses one of testenv's process-backed servers (see
// processServers). Nothing else needs to declare it.
//
//	go run ./internal/testsplit              # the packages for `go test -race`
//	go run ./internal/testsplit -processes   # the others
//
// Each package of the patterns (default ./...) is printed in exactly one of
// the two lists, one import path a line.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// testenvPath is the package of the throwaway servers.
const testenvPath = "github.com/ficus-migrate/ficus/internal/testenv"

// processServers are testenv's functions that start servers as child
// processes with a workload the detector would slow. StartNATS and
// MustStartNATS are missing on purpose: that server runs inside the test
// process, and the race detector sees it. So is StartPrometheus: it only
// answers a few queries, and the rollout controller's tests that use it
// want the detector.
var processServers = map[string]bool{
	"StartPostgres": true, "MustStartPostgres": true,
	"StartMariaDB": true, "MustStartMariaDB": true,
	"StartNATSCluster": true, "MustStartNATSCluster": true,
}

func main() {
	processes := flag.Bool("processes", false, "print the packages whose tests start processes, instead of the others")
	flag.Parse()
	patterns := flag.Args()
	if len(patterns) == 0 {
		patterns = []string{"./..."}
	}
	if err := run(context.Background(), patterns, *processes, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "testsplit:", err)
		os.Exit(1)
	}
}

// pkg is what `go list -json` says of a package that testsplit needs.
type pkg struct {
	ImportPath   string
	Dir          string
	TestGoFiles  []string
	XTestGoFiles []string
}

func run(ctx context.Context, patterns []string, processes bool, out io.Writer) error {
	pkgs, err := list(ctx, patterns)
	if err != nil {
		return err
	}
	for _, p := range pkgs {
		starts, err := startsProcesses(p)
		if err != nil {
			return err
		}
		if starts != processes {
			continue
		}
		if _, err := fmt.Fprintln(out, p.ImportPath); err != nil {
			return err
		}
	}
	return nil
}

// list runs `go list -json` on the patterns.
func list(ctx context.Context, patterns []string) ([]pkg, error) {
	cmd := exec.CommandContext(ctx, "go", append([]string{"list", "-json=ImportPath,Dir,TestGoFiles,XTestGoFiles"}, patterns...)...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list %v: %w", patterns, err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(stdout))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			return pkgs, nil
		} else if err != nil {
			return nil, fmt.Errorf("read go list output: %w", err)
		}
		pkgs = append(pkgs, p)
	}
}

// startsProcesses tells whether any test file of the package starts processes.
func startsProcesses(p pkg) (bool, error) {
	fset := token.NewFileSet()
	for _, name := range append(p.TestGoFiles, p.XTestGoFiles...) {
		path := filepath.Join(p.Dir, name)
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return false, fmt.Errorf("parse %s: %w", path, err)
		}
		if fileStartsProcesses(f, p.ImportPath == testenvPath) {
			return true, nil
		}
	}
	return false, nil
}

// fileStartsProcesses tells whether a test file imports os/exec or uses
// one of processServers: through its import of testenv, or directly when
// the file is in package testenv (inTestenv).
func fileStartsProcesses(f *ast.File, inTestenv bool) bool {
	testenv := ""
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		switch path {
		case "os/exec":
			return true
		case testenvPath:
			testenv = "testenv"
			if imp.Name != nil {
				testenv = imp.Name.Name
			}
		}
	}
	inTestenv = inTestenv && f.Name.Name == "testenv" // not its _test package
	if testenv == "" && !inTestenv {
		return false
	}
	// Inside package testenv the servers are bare names; names that are
	// no references to them (fields, methods, keys of a literal) are left out.
	notRefs := map[*ast.Ident]bool{}
	var bare []*ast.Ident
	found := false
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr: // testenv.MustStartPostgres, called or passed
			notRefs[n.Sel] = true
			if x, ok := n.X.(*ast.Ident); ok && testenv != "" && x.Name == testenv && processServers[n.Sel.Name] {
				found = true
			}
		case *ast.Field:
			for _, id := range n.Names {
				notRefs[id] = true
			}
		case *ast.KeyValueExpr:
			if id, ok := n.Key.(*ast.Ident); ok {
				notRefs[id] = true
			}
		case *ast.FuncDecl:
			notRefs[n.Name] = true
		case *ast.Ident:
			if inTestenv && processServers[n.Name] {
				bare = append(bare, n)
			}
		}
		return true
	})
	for _, id := range bare {
		found = found || !notRefs[id]
	}
	return found
}
