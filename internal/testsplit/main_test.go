package main

import (
	"go/parser"
	"go/token"
	"testing"
)

func TestFileStartsProcesses(t *testing.T) {
	for _, tc := range []struct {
		name      string
		src       string
		inTestenv bool
		want      bool
	}{
		{"os/exec", `package p; import "os/exec"; var _ = exec.Command`, false, true},
		{"postgres", `package p; import "github.com/ficus-migrate/ficus/internal/testenv"; func f() { testenv.MustStartPostgres(nil) }`, false, true},
		{"renamed import", `package p; import te "github.com/ficus-migrate/ficus/internal/testenv"; func f() { te.StartMariaDB(nil, te.MariaDBOptions{}) }`, false, true},
		{"passed as a value", `package p; import "github.com/ficus-migrate/ficus/internal/testenv"; var s = struct{ StartDB any }{StartDB: testenv.MustStartPostgres}`, false, true},
		{"nats cluster", `package p; import "github.com/ficus-migrate/ficus/internal/testenv"; func f() { testenv.MustStartNATSCluster(nil, 3) }`, false, true},
		{"embedded nats only", `package p; import "github.com/ficus-migrate/ficus/internal/testenv"; func f() { testenv.MustStartNATS(nil); testenv.FreePort(nil) }`, false, false},
		{"same name elsewhere", `package p; func f(x interface{ StartPostgres() }) { x.StartPostgres() }`, false, false},
		{"testenv's own tests", `package testenv; func f() { MustStartMariaDB(nil) }`, true, true},
		{"testenv's external tests", `package testenv_test; import "github.com/ficus-migrate/ficus/internal/testenv"; func f() { testenv.MustStartPostgres(nil) }`, true, true},
		{"testenv's own field", `package testenv; var s = struct{ StartPostgres int }{StartPostgres: 1}`, true, false},
		{"testenv's own method", `package testenv; func f(x interface{ StartPostgres() }) { x.StartPostgres() }`, true, false},
		{"no processes", `package p; import "net/http/httptest"; var _ = httptest.NewServer`, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parser.ParseFile(token.NewFileSet(), "x_test.go", tc.src, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			if got := fileStartsProcesses(f, tc.inTestenv); got != tc.want {
				t.Errorf("fileStartsProcesses = %v, want %v", got, tc.want)
			}
		})
	}
}
