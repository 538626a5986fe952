package reconcile

import (
	"testing"
	"time"
)

func TestETA(t *testing.T) {
	s := time.Second
	tests := []struct {
		name     string
		p        Progress
		inPass   time.Duration
		rate     float64
		wantLeft time.Duration
	}{
		{"nothing yet", Progress{Pass: 1}, 0, 0, 0},
		{"first pass by rows", Progress{Pass: 1, Rows: 1000, EstimatedRows: 5000, Elapsed: 2 * s}, 2 * s, 500, 8 * s},
		{"estimate passed", Progress{Pass: 1, Rows: 6000, EstimatedRows: 5000, Elapsed: 2 * s}, 2 * s, 3000, 0},
		{"no estimate", Progress{Pass: 1, Rows: 1000, Elapsed: s}, s, 1000, 0},
		{"later pass by ranges", Progress{Pass: 2, Rows: 9000, RangesDone: 2, RangesTotal: 10, Elapsed: 9 * s}, 4 * s, 1000, 16 * s},
		{"later pass, no range done", Progress{Pass: 2, Rows: 9000, RangesTotal: 10, Elapsed: 9 * s}, s, 1000, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rate, left := eta(tc.p, tc.inPass)
			if rate != tc.rate || left != tc.wantLeft {
				t.Errorf("rows/s %v, ETA %s; want %v, %s", rate, left, tc.rate, tc.wantLeft)
			}
		})
	}
}
