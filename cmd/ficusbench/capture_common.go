package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// Helpers shared by the capture benchmarks (pgcapture, mysqlcapture). The
// JetStream sink measurement (runSinkOnly), the event sampler, the sync modes
// live in the pgcapture files and are used as is.

// debugf routes testenv's progress lines to the benchmark's debug log.
func debugf(log *slog.Logger) func(format string, args ...any) {
	return func(format string, args ...any) { log.Debug(fmt.Sprintf(format, args...)) }
}

// closeLogged closes a testenv server at the end of a benchmark. A failure
// to stop it is logged: the figures are already taken.
func closeLogged(log *slog.Logger, what string, c interface{ Close() error }) {
	if err := c.Close(); err != nil {
		log.Error("close "+what, "err", err)
	}
}

// writeJSONResult writes v to dir/<prefix>-<UTC time>.json.
func writeJSONResult(w io.Writer, dir, prefix string, at time.Time, v any) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("results dir: %w", err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	path := filepath.Join(dir, prefix+"-"+at.UTC().Format("20060102T150405Z")+".json")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	fmt.Fprintf(w, "\nresult written to %s\n", path)
	return nil
}
