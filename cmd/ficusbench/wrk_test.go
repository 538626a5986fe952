package main

import (
	"os"
	"strings"
	"testing"
)

func TestParseWrk(t *testing.T) {
	full, err := os.ReadFile("testdata/wrk-latency.txt")
	if err != nil {
		t.Fatal(err)
	}
	noLatency := strings.ReplaceAll(string(full), "99%", "98%")
	tests := []struct {
		name    string
		in      string
		want    wrkResult
		wantErr bool
	}{
		{"full", string(full), wrkResult{ReqPerSec: 48760.11, P50ms: 0.812, P99ms: 10.52, Requests: 487654, Non2xx: 12, SocketErrors: 4}, false},
		{"no p99", noLatency, wrkResult{}, true},
		{"empty", "", wrkResult{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseWrk(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseWrkDuration(t *testing.T) {
	for in, want := range map[string]float64{"812.00us": 0.812, "1.50ms": 1.5, "2.00s": 2000, "1.00m": 60000} {
		if got, err := parseWrkDuration(in); err != nil || got != want {
			t.Errorf("parseWrkDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseWrkDuration("3h"); err == nil {
		t.Error("unknown unit accepted")
	}
}

func TestPayloadIs1KiB(t *testing.T) {
	if len(payload) != 1024 || strings.ContainsRune(payload, '\'') {
		t.Fatalf("payload is %d bytes (want 1024, no single quotes for nginx)", len(payload))
	}
}
