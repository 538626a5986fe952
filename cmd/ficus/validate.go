package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/ficus-migrate/ficus/internal/config"
)

const validateHelp = `Usage: ficus validate [-c FILE] [--subjects]

Checks a config file without starting anything. On success prints a one-line summary
and exits 0; otherwise prints every error, one per line, as
FILE:LINE:COLUMN: dotted.path: what was expected — and exits 1.
${VAR} references are expanded from the environment, so an unset variable is an error.
Warnings (e.g. admin.token expanding to "" on a loopback admin.listen) go to stderr,
in the same form, and do not change the exit code; on a non-loopback admin.listen an
empty token is an error.

--subjects also prints, one line per table listed in capture.sources[].tables, the
NATS subject its changes go to: SOURCE: "SCHEMA.TABLE" -> SUBJECT (names are mapped
to subject tokens, "Weird Table" -> Weird%20Table, unless the entry sets subject:).

Config keys read: all of them.
`

func validateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("validate", validateHelp, stderr)
	path := configFlag(fs)
	subjects := fs.Bool("subjects", false, "print the subject of every captured table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path, os.LookupEnv)
	if err != nil {
		fmt.Fprintln(stdout, err)
		return &exitError{code: 1}
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintln(stderr, w)
	}
	fmt.Fprintln(stdout, summary(cfg))
	if *subjects {
		for _, l := range subjectLines(cfg) {
			fmt.Fprintln(stdout, l)
		}
	}
	return nil
}

// subjectLines are what validate --subjects prints: the subject of each
// listed table, and the pattern for a source that captures every table.
func subjectLines(cfg *config.Config) []string {
	var out []string
	prefix := cfg.Capture.SubjectPrefix
	for _, src := range cfg.Capture.Sources {
		if len(src.Tables) == 0 {
			out = append(out, fmt.Sprintf("%s: every table -> %s.%s.<schema>.<table> (names mapped to subject tokens)", src.Name, prefix, src.Name))
			continue
		}
		for _, t := range src.Tables {
			schema, table := config.SplitTable(t.Table)
			out = append(out, fmt.Sprintf("%s: %q -> %s", src.Name, t.Table, src.Subject(prefix, schema, table)))
		}
	}
	return out
}

// summary is the one line `ficus validate` prints for a good config.
func summary(cfg *config.Config) string {
	var parts []string
	if cfg.Proxy.Enabled() {
		parts = append(parts, fmt.Sprintf("proxy %s on %s with %d route(s)", cfg.Proxy.Mode, cfg.Proxy.Listen, len(cfg.Proxy.Routes)))
	}
	if n := len(cfg.Capture.Sources); n > 0 {
		parts = append(parts, fmt.Sprintf("capture from %d source(s)", n))
	}
	if cfg.NATS.UseEmbedded() {
		parts = append(parts, "embedded NATS on "+cfg.NATS.Embedded.Listen)
	} else {
		parts = append(parts, fmt.Sprintf("NATS at %d URL(s)", len(cfg.NATS.URLs)))
	}
	parts = append(parts, "admin on "+cfg.Admin.Listen)
	return fmt.Sprintf("%s: ok: %s", cfg.Path(), strings.Join(parts, ", "))
}

func versionCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", "Usage: ficus version\n", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ficus %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
