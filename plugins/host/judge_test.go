package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/ficus-migrate/ficus/plugins/internal/wire"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

var (
	legacyCols = []string{"name", "status"}
	newCols    = []string{"label", "state"}
)

func txt(s string) canon.Value { return canon.Value{Text: s} }

// rowPair i differs from its new row only by case, except every third,
// whose status really differs.
func rowPair(i int) canon.RowPair {
	state := "PAID"
	if i%3 == 0 {
		state = "shipped"
	}
	return canon.RowPair{Key: fmt.Sprint(i), Legacy: []canon.Value{txt(fmt.Sprintf("Order %d", i)), txt("paid")},
		New: []canon.Value{txt(fmt.Sprintf("ORDER %d", i)), txt(state)}}
}

// checkJudgement checks the answer for rowPair(i) from testplugin.
func checkJudgement(t *testing.T, i int, j canon.Judgement) {
	t.Helper()
	if i%3 != 0 {
		if !j.Equal {
			t.Errorf("key %d: %+v, want equal", i, j)
		}
		return
	}
	if j.Equal || len(j.Columns) != 1 || j.Columns[0] != 1 || !strings.HasPrefix(j.Reason, fmt.Sprintf("orders %d: batch of ", i)) {
		t.Errorf("key %d: %+v, want column 1 differing with its own reason", i, j)
	}
}

// batches returns how many row comparison calls were made and with how
// many pairs in all.
func batches(t *testing.T, met *Metrics, plugin string) (calls uint64, pairs float64) {
	t.Helper()
	var m dto.Metric
	if err := met.rowBatch.WithLabelValues(plugin).(prometheus.Histogram).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.Histogram.GetSampleCount(), m.Histogram.GetSampleSum()
}

// judgeAll asks about keys 0..n-1 from one goroutine per key, all at once.
func judgeAll(t *testing.T, j *Judge, n int) {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			js, err := j.Judge(ctx(t), "orders", legacyCols, newCols, []canon.RowPair{rowPair(i)})
			if err != nil {
				t.Errorf("key %d: %v", i, err)
				return
			}
			if len(js) != 1 {
				t.Errorf("key %d: %d judgements", i, len(js))
				return
			}
			checkJudgement(t, i, js[0])
		})
	}
	close(start)
	wg.Wait()
}

// TestJudgeBatches: concurrent single-key questions share calls, each
// caller gets its own answer, a caller's large batch is split, and NULL
// stays apart from the empty string over the wire.
func TestJudgeBatches(t *testing.T) {
	p, met := start(t, Config{Name: "tp", Path: bins["testplugin"]})
	if err := p.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	j := NewJudge(p, JudgeConfig{MaxBatch: 16, MaxWait: 50 * time.Millisecond})

	const n = 48
	judgeAll(t, j, n)
	calls, pairs := batches(t, met, "tp")
	if pairs != n || calls > n/4 || calls < n/16 {
		t.Errorf("%d questions went in %d calls with %v pairs; want them shared, at most 16 a call", n, calls, pairs)
	}

	big := make([]canon.RowPair, 40)
	for i := range big {
		big[i] = rowPair(i)
	}
	js, err := j.Judge(ctx(t), "orders", legacyCols, newCols, big)
	if err != nil {
		t.Fatal(err)
	}
	for i, jd := range js {
		checkJudgement(t, i, jd)
	}
	if c, _ := batches(t, met, "tp"); c-calls != 3 {
		t.Errorf("40 pairs went in %d calls, want 3 of at most 16", c-calls)
	}

	nulls := []canon.RowPair{
		{Key: "1", Legacy: []canon.Value{{Null: true}, txt("a")}, New: []canon.Value{txt(""), txt("A")}},
		{Key: "2", Legacy: []canon.Value{{Null: true}, txt("")}, New: []canon.Value{{Null: true}, txt("")}},
	}
	js, err = j.Judge(ctx(t), "nulls", legacyCols, newCols, nulls)
	if err != nil {
		t.Fatal(err)
	}
	if len(js) != 2 || js[0].Equal || len(js[0].Columns) != 1 || js[0].Columns[0] != 0 || !js[1].Equal {
		t.Errorf("NULL vs empty: %+v, want key 1 differing in column 0 and key 2 equal", js)
	}

	if _, err := j.Judge(ctx(t), "orders", legacyCols, newCols, []canon.RowPair{{Key: "9", Legacy: []canon.Value{txt("x")}}}); err == nil ||
		!strings.Contains(err.Error(), "key 9 has 1 legacy and 0 new values for 2 columns") {
		t.Errorf("short row: %v", err)
	}
}

// TestJudgeCrashMidBatch: the process dies while it holds a batch; the
// supervisor starts a new one and the batch is retried, so every caller
// still gets its own answer.
func TestJudgeCrashMidBatch(t *testing.T) {
	armed := filepath.Join(t.TempDir(), "armed")
	p, met := start(t, Config{Name: "tp", Path: bins["testplugin"],
		Env: map[string]string{"TEST_PLUGIN_CRASH_ONCE": armed}})
	if err := p.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	first := p.Pid()
	if err := os.WriteFile(armed, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	judgeAll(t, NewJudge(p, JudgeConfig{MaxBatch: 8, MaxWait: 20 * time.Millisecond}), 24)
	if _, err := os.Stat(armed); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the plugin never crashed")
	}
	if p.Pid() == first || p.Err() != nil {
		t.Errorf("pid %d (first %d), err %v: want a fresh, healthy process", p.Pid(), first, p.Err())
	}
	if s, r := testutil.ToFloat64(met.starts.WithLabelValues("tp")), testutil.ToFloat64(met.restarts.WithLabelValues("tp")); s != 2 || r != 1 {
		t.Errorf("%v starts, %v restarts; want 2 and 1", s, r)
	}
}

// TestJudgeQueueFull: while the only call is busy, questions queue up to
// MaxQueue pairs; the next one is refused at once and the queued ones are
// answered afterwards, while a caller that gives up returns at once and
// its pair is never sent.
func TestJudgeQueueFull(t *testing.T) {
	p, met := start(t, Config{Name: "tp", Path: bins["testplugin"],
		Env: map[string]string{"TEST_PLUGIN_ROWS_DELAY": "400ms"}})
	if err := p.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	j := NewJudge(p, JudgeConfig{MaxBatch: 4, MaxWait: time.Millisecond, MaxQueue: 8, MaxInFlight: 1})
	ask := func(i int) <-chan error {
		done := make(chan error, 1)
		go func() {
			js, err := j.Judge(ctx(t), "orders", legacyCols, newCols, []canon.RowPair{rowPair(i)})
			if err == nil {
				checkJudgement(t, i, js[0])
			}
			done <- err
		}()
		return done
	}
	// waitQueue waits until the queue holds the questions of these keys.
	waitQueue := func(keys ...int) {
		t.Helper()
		want := fmt.Sprint(keys)
		var got string
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			j.mu.Lock()
			var in []int
			for _, q := range j.queue {
				var k int
				_, _ = fmt.Sscan(q.pairs[0].Key, &k) // a key that is no number shows as 0 in the Fatalf below
				in = append(in, k)
			}
			j.mu.Unlock()
			if got = fmt.Sprint(in); got == want {
				return
			}
		}
		t.Fatalf("queue holds keys %s, want %s", got, want)
	}
	busy := ask(0) // takes the only call for 400ms
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if calls, _ := batches(t, met, "tp"); calls == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first question was never sent")
		}
	}

	// A caller that gives up returns at once; its question keeps its room
	// only until the queue needs it.
	short, cancel := context.WithTimeout(ctx(t), 30*time.Millisecond)
	defer cancel()
	began := time.Now()
	if _, err := j.Judge(short, "orders", legacyCols, newCols, []canon.RowPair{rowPair(100)}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the caller's deadline", err)
	}
	if took := time.Since(began); took > 200*time.Millisecond {
		t.Errorf("a caller whose deadline passed returned after %s", took)
	}
	waitQueue(100)

	var queued []<-chan error
	keys := []int{100}
	for i := 1; i <= 8; i++ {
		queued = append(queued, ask(i))
		keys = append(keys, i)
		if i == 8 { // the 8th makes room by dropping the gone one
			keys = keys[1:]
		}
		waitQueue(keys...)
	}
	if n := testutil.ToFloat64(met.rowQueued.WithLabelValues("tp")); n != 8 {
		t.Errorf("ficus_plugin_row_queue_pairs = %v, want 8", n)
	}
	began = time.Now()
	_, err := j.Judge(ctx(t), "orders", legacyCols, newCols, []canon.RowPair{rowPair(9)})
	if !errors.Is(err, ErrQueueFull) || !strings.Contains(err.Error(), "8 pairs wait already (max 8)") {
		t.Fatalf("err = %v, want the queue full", err)
	}
	if took := time.Since(began); took > 100*time.Millisecond {
		t.Errorf("refusal took %s; it must not wait for room", took)
	}
	if n := testutil.ToFloat64(met.rowQueueFull.WithLabelValues("tp")); n != 1 {
		t.Errorf("ficus_plugin_row_queue_full_total = %v", n)
	}

	for i, done := range append([]<-chan error{busy}, queued...) {
		if err := <-done; err != nil {
			t.Errorf("question %d: %v", i, err)
		}
	}
	if calls, pairs := batches(t, met, "tp"); calls != 3 || pairs != 9 {
		t.Errorf("%d calls with %v pairs, want 3 calls (1, 4, 4)", calls, pairs)
	}
}

// TestCheckRowComparator: the start-up probe tells a plugin serving row
// comparison from one that does not, without failing the latter.
func TestCheckRowComparator(t *testing.T) {
	for _, tc := range []struct {
		plugin  string
		wantErr string
	}{
		{"testplugin", ""},
		{"order-mapper", ""},
		{"cents-comparator", "plugin cents-comparator does not serve row comparison (service RowComparator"},
	} {
		t.Run(tc.plugin, func(t *testing.T) {
			p, _ := start(t, Config{Name: tc.plugin, Path: bins[tc.plugin]})
			err := p.CheckRowComparator(ctx(t))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrUnimplemented) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if p.Err() != nil {
				t.Errorf("the probe failed the plugin: %v", p.Err())
			}
			if _, err := p.Comparator().Compare(ctx(t), []wire.Pair{{}}); err != nil {
				t.Errorf("its comparator no longer answers: %v", err)
			}
		})
	}
}

// TestOrderMapperRows: the example's row comparator, through its process.
func TestOrderMapperRows(t *testing.T) {
	p, _ := start(t, Config{Name: "order-mapper", Path: bins["order-mapper"]})
	j := NewJudge(p, JudgeConfig{})
	null := canon.Value{Null: true}
	row := func(vals ...canon.Value) []canon.Value { return vals }
	for _, tc := range []struct {
		name        string
		legacy, new []canon.Value
		wantCols    []int // nil: equal
		wantReason  string
	}{
		{"half a cent of rounding", row(txt("P"), txt("12.345"), txt("7")), row(txt("paid"), txt("12.35"), txt("7")), nil, ""},
		{"one cent of rounding", row(txt("P"), txt("12.34"), txt("7")), row(txt("paid"), txt("12.35"), txt("7")), nil, ""},
		{"two cents", row(txt("P"), txt("12.33"), txt("7")), row(txt("paid"), txt("12.35"), txt("7")), []int{1},
			"amount→total: apart by 0.02, more than the 0.01 of rounding allowed"},
		{"shipped order delivered", row(txt("S"), txt("1"), txt("7")), row(txt("delivered"), txt("1"), txt("7")), nil, ""},
		{"cancelled word refunded", row(txt("cancelled"), txt("1"), txt("7")), row(txt("refunded"), txt("1"), txt("7")), nil, ""},
		{"shipped order paid", row(txt("S"), txt("1"), txt("7")), row(txt("paid"), txt("1"), txt("7")), []int{0},
			`status→state: legacy "S" allows [shipped delivered], not "paid"`},
		{"other column", row(txt("N"), txt("1"), txt("7")), row(txt("new"), txt("1.005"), txt("8")), []int{2},
			"customer_id→customer_ref: values differ"},
		{"NULL total", row(txt("N"), null, txt("7")), row(txt("new"), txt("0"), txt("7")), []int{1},
			"amount→total: NULL on one side"},
		{"several", row(txt("C"), txt("5"), null), row(txt("refunded"), txt("4"), txt("1")), []int{1, 2},
			"amount→total: apart by 1, more than the 0.01 of rounding allowed; customer_id→customer_ref: NULL on one side"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			js, err := j.Judge(ctx(t), "orders", []string{"status", "amount", "customer_id"}, []string{"state", "total", "customer_ref"},
				[]canon.RowPair{{Key: "1", Legacy: tc.legacy, New: tc.new}})
			if err != nil {
				t.Fatal(err)
			}
			got := js[0]
			if tc.wantCols == nil {
				if !got.Equal {
					t.Errorf("%+v, want equal", got)
				}
				return
			}
			if got.Equal || fmt.Sprint(got.Columns) != fmt.Sprint(tc.wantCols) || got.Reason != tc.wantReason {
				t.Errorf("got %+v\nwant columns %v, reason %q", got, tc.wantCols, tc.wantReason)
			}
		})
	}
}
