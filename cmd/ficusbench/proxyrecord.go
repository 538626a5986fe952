package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// The recording row of the proxy bench: the one-route ficus of
// ficus-shadow-off with every exchange recorded (record.sample 1.0; the
// backend's answers are 1 KiB), measured right after it.
const (
	recordOn   = "ficus-record-on"
	recordKeys = "      record: {enabled: true, sample: 1.0}\n"
	shadowKeys = "      shadow: {enabled: true, sample: 1.0}\n"
)

// recordStats reads ficus_record_records_total{result} from the admin
// listener's /metrics; nil when it cannot.
func (b *proxyBench) recordStats(ctx context.Context) map[string]float64 {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.adminURL+"/metrics", nil)
	if err != nil {
		return nil
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, `ficus_record_records_total{result="`)
		if !ok {
			continue
		}
		result, value, _ := strings.Cut(rest, `"} `)
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[result] = v
		}
	}
	return out
}

// printRecord prints recording on ÷ off (ficus-shadow-off is the same
// ficus without recording).
func printRecord(w io.Writer, rows []row) {
	off, on := findRow(rows, shadowOff), findRow(rows, recordOn)
	if on != nil && on.Record != nil {
		fmt.Fprintf(w, "\nrecording (whole run incl. warm-up, ficus_record_records_total): written %.0f, dropped %.0f, failed %.0f, limited %.0f (record.max_per_second, default 1000)\n",
			on.Record["written"], on.Record["dropped"], on.Record["failed"], on.Record["limited"])
	}
	if off == nil || on == nil || off.Result.ReqPerSec == 0 {
		return
	}
	rps := on.Result.ReqPerSec / off.Result.ReqPerSec
	fmt.Fprintf(w, "recording on ÷ off at saturation (sample 1.0, default max_per_second, 1 KiB answers): req/s %.2f (goal >= 0.80: %s)\n", rps, verdict(rps >= 0.8))
}
