package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ficus-migrate/ficus/plugins/internal/wire"
)

// bins holds the plugin executables built once for the package's tests.
var bins = map[string]string{}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ficus-plugins-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		for name, pkg := range map[string]string{
			"testplugin":       "./testdata/testplugin",
			"order-mapper":     "../examples/order-mapper",
			"cents-comparator": "../examples/cents-comparator",
		} {
			out := filepath.Join(dir, name)
			if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, b)
				return 1
			}
			bins[name] = out
		}
		return m.Run()
	}()
	os.Exit(code)
}

func start(t *testing.T, cfg Config) (*Plugin, *Metrics) {
	t.Helper()
	met, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Metrics = met
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 10 * time.Millisecond
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, met
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func events(n int) []wire.Event {
	out := make([]wire.Event, n)
	for i := range out {
		out[i] = wire.Event{ID: fmt.Sprintf("src:0/1:%d", i), Subject: "ficus.cdc.src.public.t", Type: "io.ficus.cdc.create",
			Time: time.Unix(1700000000, int64(i)), Data: []byte(fmt.Sprintf(`{"op":"c","after":{"id":%d}}`, i))}
	}
	return out
}

func TestOrderMapper(t *testing.T) {
	p, _ := start(t, Config{Name: "order-mapper", Path: bins["order-mapper"]})
	for _, tc := range []struct {
		name, subject, data   string
		wantSubject, wantData string
	}{
		{"insert mapped and re-routed", "ficus.cdc.legacy.public.orders",
			`{"op":"c","before":null,"after":{"id":1,"status":"P","total_cents":1234},"key":{"id":1},"source":{},"ts_ms":5}`,
			"ficus.cdc.legacy.public.orders_v2",
			`{"op":"c","before":null,"after":{"id":1,"status":"paid","total":"12.34"},"key":{"id":1},"source":{},"ts_ms":5}`},
		{"update maps both images", "ficus.cdc.legacy.public.orders",
			`{"op":"u","before":{"id":2,"status":"N","total_cents":-5},"after":{"id":2,"status":"X","total_cents":null},"key":{"id":2},"source":{},"ts_ms":6}`,
			"ficus.cdc.legacy.public.orders_v2",
			`{"op":"u","before":{"id":2,"status":"new","total":"-0.05"},"after":{"id":2,"status":"X","total":null},"key":{"id":2},"source":{},"ts_ms":6}`},
		{"other table untouched", "ficus.cdc.legacy.public.customers",
			`{"op":"c","after":{"id":1,"total_cents":1}}`,
			"ficus.cdc.legacy.public.customers", `{"op":"c","after":{"id":1,"total_cents":1}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := []wire.Event{{ID: "legacy:1:0", Subject: tc.subject, Type: "io.ficus.cdc.create", Time: time.Unix(1, 2), Data: []byte(tc.data)}}
			out, err := p.Transformer().Transform(ctx(t), "legacy", in)
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != 1 {
				t.Fatalf("got %d events, want 1", len(out))
			}
			if out[0].Subject != tc.wantSubject || string(out[0].Data) != tc.wantData || out[0].ID != "legacy:1:0" ||
				!out[0].Time.Equal(time.Unix(1, 2)) {
				t.Errorf("got %s %s %s %s\nwant %s %s", out[0].ID, out[0].Subject, out[0].Time, out[0].Data, tc.wantSubject, tc.wantData)
			}
		})
	}
}

// TestMixedBatch: events the plugin leaves alone come back by reference
// (same_as) and must equal what was sent, next to changed ones.
func TestMixedBatch(t *testing.T) {
	p, _ := start(t, Config{Name: "order-mapper", Path: bins["order-mapper"]})
	in := []wire.Event{
		{ID: "a", Subject: "ficus.cdc.l.public.customers", Type: "io.ficus.cdc.create", Time: time.Unix(5, 6), Data: []byte(`{"id":1}`)},
		{ID: "b", Subject: "ficus.cdc.l.public.orders", Type: "io.ficus.cdc.create", Time: time.Unix(5, 7), Data: []byte(`{"op":"c","after":{"status":"N"}}`)},
		{ID: "c", Subject: "ficus.cdc.l.public.items", Type: "io.ficus.cdc.delete", Time: time.Unix(5, 8), Data: []byte(`{"id":3}`)},
	}
	out, err := p.Transformer().Transform(ctx(t), "l", append([]wire.Event(nil), in...))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 {
		t.Fatalf("%d events", len(out))
	}
	for _, i := range []int{0, 2} {
		if out[i].ID != in[i].ID || out[i].Subject != in[i].Subject || out[i].Type != in[i].Type ||
			!out[i].Time.Equal(in[i].Time) || string(out[i].Data) != string(in[i].Data) {
			t.Errorf("untouched event %d came back as %+v", i, out[i])
		}
	}
	if out[1].Subject != "ficus.cdc.l.public.orders_v2" || !strings.Contains(string(out[1].Data), `"status":"new"`) {
		t.Errorf("changed event: %s %s", out[1].Subject, out[1].Data)
	}
}

func TestStartRefusals(t *testing.T) {
	sum := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(b)
		return hex.EncodeToString(s[:])
	}
	good := sum(bins["testplugin"])
	bad := strings.Repeat("0", 64)
	for _, tc := range []struct {
		name    string
		cfg     Config
		wantErr []string // empty: must start
	}{
		{"matching checksum", Config{SHA256: strings.ToUpper(good)}, nil},
		{"wrong checksum", Config{SHA256: bad}, []string{"refusing to run", "its sha256 is " + good, "expects " + bad}},
		{"protocol mismatch", Config{Env: map[string]string{"TEST_PLUGIN_PROTOCOL": "99"}},
			[]string{"ficus speaks version 1", "Plugin version: 99"}},
		{"missing executable", Config{Path: "/nonexistent/plugin"}, []string{"/nonexistent/plugin"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Name = "tp"
			if cfg.Path == "" {
				cfg.Path = bins["testplugin"]
			}
			p, met := start(t, cfg)
			err := p.Start(ctx(t))
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("start: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("started; want a refusal")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			// Refusals are final: no retries, the plugin is failed.
			if !errors.Is(p.Err(), ErrFailed) || testutil.ToFloat64(met.failed.WithLabelValues("tp")) != 1 {
				t.Errorf("plugin not in failed state: %v", p.Err())
			}
			if n := testutil.ToFloat64(met.starts.WithLabelValues("tp")); n != 0 {
				t.Errorf("%v processes started", n)
			}
		})
	}
}

// TestRecovery: a hang, a crash in a call and a kill -9 between calls all
// end in the batch being answered by a fresh process.
func TestRecovery(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     string // switch file armed before the call
		kill    bool   // kill -9 the process before the call
		minTime time.Duration
	}{
		{name: "hang times out", env: "TEST_PLUGIN_HANG_ONCE", minTime: 300 * time.Millisecond},
		{name: "crash in call", env: "TEST_PLUGIN_CRASH_ONCE"},
		{name: "kill -9 between calls", kill: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Name: "tp", Path: bins["testplugin"], CallTimeout: 300 * time.Millisecond}
			armed := filepath.Join(t.TempDir(), "armed")
			if tc.env != "" {
				cfg.Env = map[string]string{tc.env: armed}
			}
			p, met := start(t, cfg)
			if err := p.Start(ctx(t)); err != nil {
				t.Fatal(err)
			}
			first := p.Pid()
			if tc.env != "" {
				if err := os.WriteFile(armed, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if tc.kill {
				if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			}
			in := events(3)
			began := time.Now()
			out, err := p.Transformer().Transform(ctx(t), "src", append([]wire.Event(nil), in...))
			if err != nil {
				t.Fatal(err)
			}
			if took := time.Since(began); took < tc.minTime {
				t.Errorf("answered after %s, before the %s timeout", took, tc.minTime)
			}
			if len(out) != len(in) || out[2].ID != in[2].ID || string(out[2].Data) != string(in[2].Data) {
				t.Fatalf("batch changed: %+v", out)
			}
			if p.Pid() == first || p.Pid() == 0 {
				t.Errorf("still process %d after recovery", p.Pid())
			}
			if n := testutil.ToFloat64(met.starts.WithLabelValues("tp")); n != 2 {
				t.Errorf("%v starts, want 2", n)
			}
			if p.Err() != nil {
				t.Errorf("failed after recovering: %v", p.Err())
			}
		})
	}
}

func TestRepeatedFailureFails(t *testing.T) {
	p, met := start(t, Config{Name: "mapper", Path: bins["order-mapper"], MaxFailures: 3,
		Env: map[string]string{"MAPPER_MODE": "strict"}})
	in := []wire.Event{{ID: "a", Subject: "ficus.cdc.l.public.orders", Data: []byte(`{"op":"c","after":{"status":"Z"}}`)}}
	_, err := p.Transformer().Transform(ctx(t), "l", in)
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), `unknown status code "Z"`) ||
		!strings.Contains(err.Error(), "3 attempts") {
		t.Fatalf("err = %v", err)
	}
	if p.Err() == nil || testutil.ToFloat64(met.failed.WithLabelValues("mapper")) != 1 ||
		testutil.ToFloat64(met.failures.WithLabelValues("mapper")) != 3 {
		t.Errorf("not failed: err %v", p.Err())
	}
	// Every later call fails at once with the same error.
	if _, err2 := p.Transformer().Transform(ctx(t), "l", events(1)); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("later call: %v", err2)
	}
}

func TestUnimplementedInterface(t *testing.T) {
	p, _ := start(t, Config{Name: "mapper", Path: bins["order-mapper"]})
	_, err := p.Comparator().Compare(ctx(t), []wire.Pair{{}})
	if !errors.Is(err, ErrFailed) || !errors.Is(err, wire.ErrUnimplemented) {
		t.Fatalf("err = %v", err)
	}
}

func TestCentsComparator(t *testing.T) {
	p, _ := start(t, Config{Name: "cents", Path: bins["cents-comparator"]})
	pairs := []wire.Pair{
		{Route: "orders", Legacy: wire.Answer{Status: 200, Body: []byte(`{"id":1,"price_cents":1230,"items":[{"unit_cents":5}]}`)},
			New: wire.Answer{Status: 200, Body: []byte(`{"id":1,"price":12.3,"items":[{"unit":0.05}]}`)}},
		{Route: "orders", Legacy: wire.Answer{Status: 200, Body: []byte(`{"price_cents":100}`)},
			New: wire.Answer{Status: 200, Body: []byte(`{"price":1.01}`)}},
		{Route: "orders", Legacy: wire.Answer{Status: 500, Body: []byte(`oops`)}, New: wire.Answer{Status: 200}},
	}
	res, err := p.Comparator().Compare(ctx(t), pairs)
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]string{
		{`{"id":1,"items":[{"unit":0.05}],"price":12.30}`, `{"id":1,"items":[{"unit":0.05}],"price":12.30}`},
		{`{"price":1.00}`, `{"price":1.01}`},
		{`oops`, ``},
	}
	for i, r := range res {
		if r.Verdict != wire.VerdictDiff || string(r.Pair.Legacy.Body) != want[i][0] || string(r.Pair.New.Body) != want[i][1] ||
			r.Pair.Legacy.Status != pairs[i].Legacy.Status || r.Pair.Route != "orders" {
			t.Errorf("pair %d: %v %s | %s", i, r.Verdict, r.Pair.Legacy.Body, r.Pair.New.Body)
		}
	}
}
