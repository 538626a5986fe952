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

const validateHelp = `Usage: ficus validate [-c FILE]

Checks a config file without starting anything. On success prints a one-line summary
and exits 0; otherwise prints every error, one per line, as
FILE:LINE:COLUMN: dotted.path: what was expected — and exits 1.
${VAR} references are expanded from the environment, so an unset variable is an error.
Warnings (e.g. admin.token expanding to "" on a loopback admin.listen) go to stderr,
in the same form, and do not change the exit code; on a non-loopback admin.listen an
empty token is an error.

Config keys read: all of them.
`

func validateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("validate", validateHelp, stderr)
	path := configFlag(fs)
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
	return nil
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
