package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/ficus-migrate/ficus/shadow/traffic/recording"
)

// replayBenchCmd measures `ficus replay` against a local backend (the Go
// backend of the proxy bench, 1 KiB JSON): requests/s replayed and
// compared, beside wrk's req/s on the same backend with as many
// connections as replay's concurrency.
func replayBenchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 50000, "recorded exchanges replayed")
	conc := fs.Int("c", 64, "replay concurrency and wrk connections")
	dur := fs.Duration("d", 10*time.Second, "wrk duration")
	ficusBin := fs.String("ficus", "", "ficus binary [go build ./cmd/ficus into a temp dir]")
	outDir := fs.String("out", "bench-results", "directory for the JSON results")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		return fmt.Errorf("wrk not found (run deploy/install-deps.sh bench as root, or apt-get install wrk)")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "ficusbench-replay-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if *ficusBin == "" {
		*ficusBin = filepath.Join(tmp, "ficus")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", *ficusBin, "./cmd/ficus")
		cmd.Stdout, cmd.Stderr = stderr, stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build ./cmd/ficus: %w", err)
		}
	}
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	backend, err := startChild("go backend", filepath.Join(tmp, "backend.log"), nil, self, "backend", "-listen", addr(ports[0]))
	if err != nil {
		return err
	}
	defer backend.stop()
	base := "http://" + addr(ports[0])
	if err := waitHTTP(ctx, backend, base+"/"); err != nil {
		return err
	}
	file := filepath.Join(tmp, "api.jsonl")
	if err := writeRecording(file, *n); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "machine: %d CPUs, %s; %d exchanges, concurrency %d; backend: go, 1 KiB JSON\n",
		runtime.NumCPU(), runtime.Version(), *n, *conc)

	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, *ficusBin, "replay", "--route", "api", "--from", file, "--to", base,
		"--concurrency", fmt.Sprint(*conc), "--format", "json", "-c", filepath.Join(tmp, "none.yaml"))
	cmd.Stdout, cmd.Stderr = &out, io.Discard
	start := time.Now()
	err = cmd.Run()
	elapsed := time.Since(start)
	if err != nil {
		return fmt.Errorf("ficus replay: %w: %s", err, out.String())
	}
	var doc struct {
		Summary struct {
			Replayed, Matched int
		} `json:"summary"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		return fmt.Errorf("ficus replay output: %w", err)
	}
	replayRate := float64(doc.Summary.Replayed) / elapsed.Seconds()
	fmt.Fprintf(stdout, "  ficus replay  %9.0f req/s  (%d replayed, %d matched, %.1f s including start and file read)\n",
		replayRate, doc.Summary.Replayed, doc.Summary.Matched, elapsed.Seconds())
	res, err := runWrk(ctx, wrkOpts{threads: 2, conns: *conc, duration: *dur}, base+benchPath)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "  wrk           %9.0f req/s\n", res.ReqPerSec)
	fmt.Fprintf(stdout, "replay ÷ wrk: %.2f (replay also reads, redacts and compares every answer)\n", replayRate/res.ReqPerSec)
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return err
	}
	data, _ := json.MarshalIndent(map[string]any{
		"exchanges": *n, "concurrency": *conc, "replay_req_per_sec": replayRate, "replay_seconds": elapsed.Seconds(),
		"matched": doc.Summary.Matched, "wrk": res, "ratio": replayRate / res.ReqPerSec,
	}, "", "  ")
	path := filepath.Join(*outDir, "replay-"+time.Now().Format("20060102-150405")+".json")
	fmt.Fprintf(stdout, "results: %s\n", path)
	return os.WriteFile(path, data, 0o644)
}

// writeRecording writes n recorded GETs of benchPath whose legacy answer is
// the backend's payload, as `ficus replay export` would.
func writeRecording(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	t0 := time.Now().Add(-time.Hour).UTC()
	xs := make([]recording.Exchange, n)
	for i := range xs {
		xs[i] = recording.Exchange{
			Time: t0.Add(time.Duration(i) * time.Millisecond), Instance: "bench", Seq: uint64(i + 1), Route: "api",
			Method: http.MethodGet, Path: benchPath, Served: "legacy", RequestHeader: http.Header{"Accept": {"application/json"}},
			Answer: recording.Answer{Status: 200, Header: http.Header{"Content-Type": {"application/json"}},
				Body: recording.Body{Text: payload}, Size: int64(len(payload))},
			Redaction: recording.Hashed,
		}
	}
	if err := recording.WriteJSONL(f, xs); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
