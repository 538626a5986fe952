package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// wrkResult is one wrk measurement.
type wrkResult struct {
	ReqPerSec    float64 `json:"req_per_sec"`
	P50ms        float64 `json:"p50_ms"`
	P99ms        float64 `json:"p99_ms"`
	Requests     int64   `json:"requests"`
	Non2xx       int64   `json:"non_2xx"`
	SocketErrors int64   `json:"socket_errors"`
}

type wrkOpts struct {
	threads, conns int
	duration       time.Duration
	script         string
}

// writeWrkScript makes wrk cycle through requests that differ only in their
// sticky cookie, so a 50 % sticky split really sends half the users each way.
// Every row (direct, nginx, ficus) gets the same requests.
func writeWrkScript(dir, path string, users int) (string, error) {
	s := fmt.Sprintf(`local reqs = {}
local i = 0
init = function(args)
  for u = 1, %d do
    reqs[u] = wrk.format("GET", %q, {["Cookie"] = "theme=dark; sid=user" .. u, ["Accept"] = "application/json"})
  end
end
request = function()
  i = i %% #reqs + 1
  return reqs[i]
end
`, users, path)
	p := filepath.Join(dir, "requests.lua")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		return "", fmt.Errorf("wrk script: %w", err)
	}
	return p, nil
}

// runWrk runs one bounded wrk measurement against url.
func runWrk(ctx context.Context, o wrkOpts, url string) (wrkResult, error) {
	ctx, cancel := context.WithTimeout(ctx, o.duration+20*time.Second)
	defer cancel()
	args := []string{"-t" + strconv.Itoa(o.threads), "-c" + strconv.Itoa(o.conns),
		"-d" + strconv.Itoa(int(o.duration.Seconds())) + "s", "--latency", "--timeout", "5s"}
	if o.script != "" {
		args = append(args, "-s", o.script)
	}
	args = append(args, url)
	cmd := exec.CommandContext(ctx, "wrk", args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %w: %s", url, err, strings.TrimSpace(errb.String()))
	}
	r, err := parseWrk(out.String())
	if err != nil {
		return r, fmt.Errorf("wrk %s: %w\n%s", url, err, out.String())
	}
	return r, nil
}

// parseWrk reads the summary wrk --latency prints.
func parseWrk(s string) (wrkResult, error) {
	var r wrkResult
	var haveRPS, have50, have99 bool
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return r, fmt.Errorf("parse req/s %q: %w", f[1], err)
			}
			r.ReqPerSec, haveRPS = v, true
		case len(f) == 2 && (f[0] == "50%" || f[0] == "99%"):
			ms, err := parseWrkDuration(f[1])
			if err != nil {
				return r, err
			}
			if f[0] == "50%" {
				r.P50ms, have50 = ms, true
			} else {
				r.P99ms, have99 = ms, true
			}
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			r.Requests, _ = strconv.ParseInt(f[0], 10, 64)
		case len(f) == 5 && f[0] == "Non-2xx":
			r.Non2xx, _ = strconv.ParseInt(f[4], 10, 64)
		case len(f) > 2 && f[0] == "Socket" && f[1] == "errors:":
			// "Socket errors: connect 0, read 0, write 0, timeout 0"
			for i := 2; i+1 < len(f); i += 2 {
				n, _ := strconv.ParseInt(strings.TrimSuffix(f[i+1], ","), 10, 64)
				r.SocketErrors += n
			}
		}
	}
	if !haveRPS || !have50 || !have99 {
		return r, fmt.Errorf("wrk output lacks Requests/sec or the 50%%/99%% latency lines")
	}
	return r, nil
}

// parseWrkDuration turns wrk's "812.00us", "1.23ms", "2.01s" into ms.
func parseWrkDuration(s string) (float64, error) {
	units := []struct {
		suffix string
		ms     float64
	}{{"us", 1e-3}, {"ms", 1}, {"m", 60e3}, {"s", 1e3}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("parse latency %q: %w", s, err)
			}
			return v * u.ms, nil
		}
	}
	return 0, fmt.Errorf("parse latency %q: unknown unit", s)
}
