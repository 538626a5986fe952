package mirror

import (
	"bytes"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestQueueBytes: 1 MiB answers mirrored to a side that does not answer
// pile up in the queue. The bytes the jobs hold never exceed QueueBytes,
// the heap grows by about what they hold and no more, the rest is dropped
// and counted, and once the side answers everything drains and the jobs
// hold nothing. The generous budget shows that what is accounted is what
// the heap holds (the tight budget alone would pass with an accounting
// that overstated everything). With a side that has earned pipelining, the
// shadow answers of a batch wait for each other: they are held too.
func TestQueueBytes(t *testing.T) {
	const (
		answer = 1 << 20
		n      = 48
		slack  = 8 << 20 // proxy and client buffers, the connections, the test's own
	)
	quickTrust(t)
	for _, tc := range []struct {
		name      string
		budget    int64
		pipelined bool
		wantDrops bool
	}{
		{"tight budget drops", 12 << 20, false, true},
		{"generous budget keeps all", 96 << 20, false, false},
		{"pipelined answers held", 12 << 20, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			big := bytes.Repeat([]byte("a"), answer)
			serve := func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/octet-stream")
				w.Header().Set("Content-Length", strconv.Itoa(len(big)))
				_, _ = w.Write(big)
			}
			release := make(chan struct{})
			var releaseOnce sync.Once
			unblock := func() { releaseOnce.Do(func() { close(release) }) }
			t.Cleanup(unblock)
			legacy := newBackend(t, serve)
			nw := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
				if strings.HasPrefix(r.URL.Path, "/doc/") {
					select {
					case <-release:
					case <-r.Context().Done():
						return
					}
				}
				serve(w, r)
			})
			reg := prometheus.NewRegistry()
			workers, warm := 2, uint64(0)
			if tc.pipelined {
				workers, warm = 1, 2 // one batch at a time, after two warm-up exchanges
			}
			s := start(t, legacy.url(t), nw.url(t), 0, Config{Workers: workers, QueueBytes: tc.budget, Registerer: reg},
				Route{Sample: 1, Timeout: time.Minute})
			if tc.pipelined {
				earnTrust(t, s, nw.url(t), "/warm")
			}

			var peak atomic.Int64
			stop := make(chan struct{})
			sampled := make(chan struct{})
			go func() {
				defer close(sampled)
				for {
					if h := s.mirror.held.Load(); h > peak.Load() {
						peak.Store(h)
					}
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Microsecond):
					}
				}
			}()
			base := heapAfterGC()
			for i := range n {
				if code, body := s.do(t, http.MethodGet, "/doc/"+strconv.Itoa(i), "", nil); code != 200 || len(body) != answer {
					t.Fatalf("client got %d and %d bytes", code, len(body))
				}
			}
			// Every job is queued, taken by a blocked worker or dropped.
			waitFor(t, "every job queued or dropped", func() bool { st := s.stats(t); return st.Mirrored+st.Dropped == n+warm })
			held := s.mirror.held.Load()
			grown := heapAfterGC() - base
			t.Logf("%d MiB budget: %d jobs held %.1f MiB, heap grew %.1f MiB; %d dropped",
				tc.budget>>20, s.stats(t).Mirrored, mib(held), mib(grown), s.stats(t).Dropped)
			if grown > held+slack {
				t.Errorf("heap grew %.1f MiB for %.1f MiB held: the accounting misses what jobs hold", mib(grown), mib(held))
			}
			if grown > tc.budget+slack {
				t.Errorf("heap grew %.1f MiB, over the %.1f MiB budget", mib(grown), mib(tc.budget))
			}
			st := s.stats(t)
			if dropped := counterValue(t, reg, "ficus_shadow_dropped_total", "reason", dropBytes); dropped != float64(st.Dropped) {
				t.Errorf("ficus_shadow_dropped_total{reason=bytes} = %v, want every drop (%d)", dropped, st.Dropped)
			}
			if tc.wantDrops != (st.Dropped > 0) {
				t.Errorf("%d dropped; want drops: %v", st.Dropped, tc.wantDrops)
			}

			unblock()
			waitFor(t, "every job done", func() bool {
				st := s.stats(t)
				return st.Compared+st.Errors+st.Dropped == n+warm && s.mirror.held.Load() == 0
			})
			close(stop)
			<-sampled
			if p := peak.Load(); p > tc.budget || p == 0 {
				t.Errorf("held at most %d bytes, budget %d", p, tc.budget)
			}
			// A pipelined answer that does not fit is dropped after its job
			// was mirrored: a late drop.
			st = s.stats(t)
			late := st.Dropped - (n + warm - st.Mirrored)
			if st.Matched+late != st.Mirrored || st.Mismatched != 0 || st.Errors != 0 {
				t.Errorf("stats %+v, %d late drops: want every mirrored job matched or dropped late", st, late)
			}
			if tc.pipelined && late == 0 {
				t.Error("no pipelined answer dropped for the budget")
			}
			if g := gaugeValue(t, reg, "ficus_shadow_queue_bytes"); g != 0 {
				t.Errorf("ficus_shadow_queue_bytes = %v after the drain", g)
			}
		})
	}
}

func heapAfterGC() int64 {
	runtime.GC()
	runtime.GC() // the first may leave what finalizers freed
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// counterValue sums the counters of family name whose label has value.
func counterValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}
