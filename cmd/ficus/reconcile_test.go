package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/ficus-migrate/ficus/internal/config"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// --output takes two words (a format and a file), which package flag
// cannot: reconcileOutputFlag takes them out of the arguments first.
func TestReconcileOutputFlag(t *testing.T) {
	for _, c := range []struct {
		args         []string
		rest         []string
		format, file string
		err          string
	}{
		{args: []string{"orders", "--output", "jsonl", "d.jsonl", "--fresh"}, rest: []string{"orders", "--fresh"}, format: "jsonl", file: "d.jsonl"},
		{args: []string{"-output", "jsonl", "d.jsonl", "orders"}, rest: []string{"orders"}, format: "jsonl", file: "d.jsonl"},
		{args: []string{"--output=jsonl", "d.jsonl", "orders"}, rest: []string{"orders"}, format: "jsonl", file: "d.jsonl"},
		{args: []string{"orders", "--format", "json"}, rest: []string{"orders", "--format", "json"}},
		{args: []string{"orders", "--", "--output", "jsonl", "x"}, rest: []string{"orders", "--", "--output", "jsonl", "x"}},
		{args: []string{"orders", "--output", "jsonl"}, err: "--output wants a format and a file"},
		{args: []string{"orders", "--output=jsonl"}, err: "--output wants a format and a file"},
		{args: []string{"--output", "jsonl", "--fresh", "orders"}, err: "--output wants a format and a file"},
		{args: []string{"--output", "csv", "d.csv", "orders"}, err: `the only format is jsonl, got "csv"`},
	} {
		rest, format, file, err := reconcileOutputFlag(c.args)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.args, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(rest, c.rest) || format != c.format || file != c.file {
			t.Errorf("%q: %q %q %q %v; want %q %q %q", c.args, rest, format, file, err, c.rest, c.format, c.file)
		}
	}
}

// --materialize names a capture source (its DSN, nothing secret on the
// command line) or a DSN, and the table after the last '.'.
func TestMaterializeTarget(t *testing.T) {
	cfg := &config.Config{}
	cfg.Capture.Sources = []config.Source{{Name: "orders_svc", Type: "postgres"}}
	for _, c := range []struct {
		arg, table, dsn string
		engine          canon.Engine
		err             bool
	}{
		{arg: "orders_svc.diffs", table: "diffs", engine: canon.Postgres},
		{arg: "postgres://u@127.0.0.1:5999/db?sslmode=disable.diffs", table: "diffs", engine: canon.Postgres,
			dsn: "postgres://u@127.0.0.1:5999/db?sslmode=disable"},
		{arg: "root@tcp(127.0.0.1:3999)/ficus.diffs", table: "diffs", engine: canon.MySQL, dsn: "root@tcp(127.0.0.1:3999)/ficus"},
		{arg: "diffs", err: true},
		{arg: "orders_svc.", err: true},
		{arg: ".diffs", err: true},
	} {
		got, err := materializeTarget(cfg, c.arg)
		if c.err {
			if err == nil {
				t.Errorf("%q: %+v, want an error", c.arg, got)
			}
			continue
		}
		if err != nil || got.Table != c.table || got.Engine != c.engine || (c.dsn != "" && got.DSN != c.dsn) {
			t.Errorf("%q: %+v, %v", c.arg, got, err)
		}
	}
}
