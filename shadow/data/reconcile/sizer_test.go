package reconcile

import (
	"testing"
	"time"
)

// TestSizer feeds the sizer a history of ranges and the time each took,
// and checks the width it picks next.
func TestSizer(t *testing.T) {
	const ms = time.Millisecond
	type obs struct {
		width uint64
		took  time.Duration
	}
	tests := []struct {
		name                      string
		target                    time.Duration
		first, minWidth, maxWidth uint64
		history                   []obs
		want                      uint64
	}{
		{"first width before any range", 500 * ms, 1000, 1, 1 << 30, nil, 1000},
		{"first width capped", 500 * ms, 1000, 1, 300, nil, 300},
		{"first width at least one key", 500 * ms, 0, 1, 1 << 30, nil, 1},
		{"on target: keep", 500 * ms, 1000, 1, 1 << 30, []obs{{1000, 500 * ms}}, 1000},
		{"twice too slow: halve", 500 * ms, 1000, 1, 1 << 30, []obs{{1000, time.Second}}, 500},
		{"fast: grow at most fourfold", 500 * ms, 1000, 1, 1 << 30, []obs{{1000, 10 * ms}}, 4000},
		{"empty range (0s): grow fourfold", 500 * ms, 1000, 1, 1 << 30, []obs{{1000, 0}}, 4000},
		{"twice as fast: double", 500 * ms, 1000, 1, 1 << 30, []obs{{1000, 250 * ms}}, 2000},
		{"grows up to the cap", 500 * ms, 1000, 1, 3000, []obs{{1000, 10 * ms}}, 3000},
		// 1000 keys/s, then 2000 keys/s: 0.75 × 1000 + 0.25 × 2000 = 1250 keys/s.
		{"moving average", time.Second, 1000, 1, 1 << 30, []obs{{1000, time.Second}, {2000, time.Second}}, 1250},
		// After fast ranges (10,000 keys/s), one that took too long
		// (1,000 keys/s): the slow rate wins at once, not the average.
		{"too slow shrinks at once", time.Second, 1000, 1, 1 << 30,
			[]obs{{10000, time.Second}, {10000, time.Second}, {4000, 4 * time.Second}}, 1000},
		{"never below one key", 500 * ms, 1000, 1, 1 << 30, []obs{{1, time.Hour}}, 1},
		{"never below the minimum", 500 * ms, 1000, 100, 1 << 30, []obs{{1000, time.Hour}}, 100},
		{"minimum above the first width", 500 * ms, 10, 100, 1 << 30, nil, 100},
		{"a minimum above the cap is the cap", 500 * ms, 1000, 5000, 3000, nil, 3000},
		{"huge key space stays in range", 500 * ms, 1 << 62, 1, ^uint64(0), []obs{{1 << 62, ms}}, 1 << 62},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSizer(tc.target, tc.first, tc.minWidth, tc.maxWidth)
			for _, o := range tc.history {
				s.observe(o.width, o.took)
			}
			if s.width != tc.want {
				t.Errorf("width %d, want %d", s.width, tc.want)
			}
		})
	}
}

// TestWalker: the walker's ranges cover the key space exactly once, in
// order, also at the ends of int64.
func TestWalker(t *testing.T) {
	tests := []struct {
		name  string
		all   span
		width uint64
	}{
		{"small", span{1, 10}, 3},
		{"one key", span{5, 5}, 100},
		{"near the top of int64", span{1<<63 - 10, 1<<63 - 1}, 4},
		{"near the bottom of int64", span{-1 << 63, -1<<63 + 9}, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWalker(tc.all, newSizer(time.Second, tc.width, 1, 1<<40))
			next := tc.all.lo
			for i := 0; ; i++ {
				s, ok := w.take()
				if !ok {
					break
				}
				if i > 100 {
					t.Fatal("too many ranges")
				}
				if s.lo != next || s.hi < s.lo || s.hi > tc.all.hi {
					t.Fatalf("range %d is %+v, want it to start at %d within %+v", i, s, next, tc.all)
				}
				if s.hi == tc.all.hi {
					next = s.hi
					if _, ok := w.take(); ok {
						t.Fatal("a range after the end")
					}
					break
				}
				next = s.hi + 1
			}
			if next != tc.all.hi {
				t.Errorf("covered up to %d, want %d", next, tc.all.hi)
			}
			if got := w.total(); got != w.issued {
				t.Errorf("total %d once done, want the %d issued", got, w.issued)
			}
		})
	}
}
