package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Helpers shared by the capture benchmarks (pgcapture, mysqlcapture). The
// JetStream sink measurement (runSinkOnly), the event sampler, the sync modes
// and the testing.TB adapter live in the pgcapture files and are used as is.

// tbCall runs a testenv constructor with the benchTB adapter and turns its
// Fatalf (a tbFatal panic) into an error.
func tbCall[T any](what string, f func() T) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			fatal, ok := r.(tbFatal)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("%s: %s", what, fatal.msg)
		}
	}()
	return f(), nil
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
