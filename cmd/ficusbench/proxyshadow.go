package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"
)

// The shadow rows of the proxy bench: the same one-route ficus with
// shadowing off and on (every request mirrored to the new side, which
// serves the same document as legacy), measured back to back.
const (
	shadowOff   = "ficus-shadow-off"
	shadowOn    = "ficus-shadow-on"
	shadowRoute = "api"
)

// shadowStats are the counters of GET /api/shadow/{route} the results report.
type shadowStats struct {
	Mirrored   uint64 `json:"mirrored"`
	Compared   uint64 `json:"compared"`
	Matched    uint64 `json:"matched"`
	Mismatched uint64 `json:"mismatched"`
	Dropped    uint64 `json:"dropped"`
	Errors     uint64 `json:"errors"`
}

func (s shadowStats) minus(o shadowStats) shadowStats {
	return shadowStats{
		Mirrored: s.Mirrored - o.Mirrored, Compared: s.Compared - o.Compared, Matched: s.Matched - o.Matched,
		Mismatched: s.Mismatched - o.Mismatched, Dropped: s.Dropped - o.Dropped, Errors: s.Errors - o.Errors,
	}
}

// settled reports whether every mirrored request has been dealt with.
func (s shadowStats) settled() bool { return s.Compared+s.Errors >= s.Mirrored }

func (b *proxyBench) shadowStats(ctx context.Context) (shadowStats, error) {
	s, err := b.admin().Shadow(ctx, shadowRoute)
	if err != nil {
		return shadowStats{}, fmt.Errorf("shadow figures: %w", err)
	}
	return shadowStats{Mirrored: s.Mirrored, Compared: s.Compared, Matched: s.Matched, Mismatched: s.Mismatched,
		Dropped: s.Dropped, Errors: s.Errors}, nil
}

// shadowWarm waits for the warm-up's mirrors to finish and remembers the
// counters, so the row reports the timed run alone.
func (b *proxyBench) shadowWarm(ctx context.Context) error {
	s, err := b.waitShadow(ctx)
	b.shadowBefore = s
	return err
}

// shadowAfter waits (bounded) for the queued mirrors to be compared and
// returns the timed run's share of the counters.
func (b *proxyBench) shadowAfter(ctx context.Context) (shadowStats, error) {
	s, err := b.waitShadow(ctx)
	return s.minus(b.shadowBefore), err
}

func (b *proxyBench) waitShadow(ctx context.Context) (shadowStats, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := b.shadowStats(ctx)
		if err != nil || s.settled() || time.Now().After(deadline) {
			return s, err
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// printShadow prints the on/off ratios and the mirror's own figures.
func printShadow(w io.Writer, rows []row) {
	var off, on *row
	for i := range rows {
		switch rows[i].Name {
		case shadowOff:
			off = &rows[i]
		case shadowOn:
			on = &rows[i]
		}
	}
	if on != nil && on.Shadow != nil {
		s := on.Shadow
		fmt.Fprintf(w, "\nshadow (timed run, GET /api/shadow/%s): %d requests, mirrored %d, compared %d, matched %d, mismatched %d, dropped %d, errors %d\n",
			shadowRoute, on.Result.Requests, s.Mirrored, s.Compared, s.Matched, s.Mismatched, s.Dropped, s.Errors)
	}
	if off == nil || on == nil || off.Result.ReqPerSec == 0 || off.Result.P99ms == 0 {
		return
	}
	rps := on.Result.ReqPerSec / off.Result.ReqPerSec
	p99 := on.Result.P99ms / off.Result.P99ms
	fmt.Fprintf(w, "shadow on ÷ off at saturation: req/s %.2f (goal >= 0.60: %s), p99 %.2f (goal <= 1.10: %s)\n",
		rps, verdict(rps >= 0.6), p99, verdict(p99 <= 1.1))
	printPaced(w, off, on)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

// pacedResult is a wrk run at a fixed offered rate.
type pacedResult struct {
	OfferedPerSec float64   `json:"offered_per_sec"`
	Result        wrkResult `json:"result"`
}

// paced measures the shadow rows again at the same offered load: at
// saturation a closed-loop client's latency only mirrors the throughput
// (Little's law), so the latency cost of shadowing shows at equal load.
// wrk has no rate option; each connection waits a fixed delay between its
// requests instead, which offers conns/delay requests per second.
func (b *proxyBench) paced(ctx context.Context, r *row, base string) error {
	if b.shadowPace <= 0 || (r.Name != shadowOff && r.Name != shadowOn) {
		return nil
	}
	if r.Name == shadowOff {
		b.pacedRate = b.shadowPace * r.Result.ReqPerSec
	}
	if b.pacedRate <= 0 {
		return nil // ficus-shadow-off did not run first
	}
	delayMs := max(1, int(math.Round(float64(b.wrk.conns)*1000/b.pacedRate)))
	src, err := os.ReadFile(b.wrk.script)
	if err != nil {
		return err
	}
	o := b.wrk
	o.script = filepath.Join(b.tmp, fmt.Sprintf("paced-%d.lua", delayMs))
	if err := os.WriteFile(o.script, fmt.Appendf(src, "delay = function() return %d end\n", delayMs), 0o644); err != nil {
		return fmt.Errorf("wrk script: %w", err)
	}
	res, err := runWrk(ctx, o, base+benchPath)
	if err != nil {
		return err
	}
	r.Paced = &pacedResult{OfferedPerSec: float64(b.wrk.conns) * 1000 / float64(delayMs), Result: res}
	fmt.Fprintf(b.stdout, "  %-16s %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms  (paced, %.0f req/s offered)\n",
		r.Name, res.ReqPerSec, res.P50ms, res.P99ms, r.Paced.OfferedPerSec)
	return nil
}

// printPaced prints the equal-load latency comparison.
func printPaced(w io.Writer, off, on *row) {
	if off.Paced == nil || on.Paced == nil || off.Paced.Result.P99ms == 0 {
		return
	}
	a, b := off.Paced.Result, on.Paced.Result
	p99 := b.P99ms / a.P99ms
	fmt.Fprintf(w, "at equal load (%.0f req/s offered): off %.0f req/s p50 %.2f p99 %.2f ms; on %.0f req/s p50 %.2f p99 %.2f ms; p99 on ÷ off %.2f (goal <= 1.10: %s)\n",
		off.Paced.OfferedPerSec, a.ReqPerSec, a.P50ms, a.P99ms, b.ReqPerSec, b.P50ms, b.P99ms, p99, verdict(p99 <= 1.1))
}
