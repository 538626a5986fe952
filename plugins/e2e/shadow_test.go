package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ficus-migrate/ficus/plugins/host"
	"github.com/ficus-migrate/ficus/proxy"
	"github.com/ficus-migrate/ficus/proxy/route"
	"github.com/ficus-migrate/ficus/shadow/traffic/diff"
	"github.com/ficus-migrate/ficus/shadow/traffic/mirror"
	"github.com/ficus-migrate/ficus/shadow/traffic/record"
)

type recorder struct {
	mu   sync.Mutex
	recs []record.Input
}

func (r *recorder) Record(in record.Input) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, in)
}

func (r *recorder) paths() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, in := range r.recs {
		out = append(out, in.Path)
	}
	return out
}

// TestShadowThroughComparator proxies requests to a legacy server answering
// cents while the new server answers decimals; the cents-comparator plugin
// normalizes both in the shadow workers, so only the real difference is
// recorded. The client's answers never wait for the plugin.
func TestShadowThroughComparator(t *testing.T) {
	serve := func(body func(id string) string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, body(strings.TrimPrefix(r.URL.Path, "/orders/")))
		}))
		t.Cleanup(s.Close)
		return s
	}
	legacy := serve(func(id string) string { return fmt.Sprintf(`{"id":%s,"price_cents":1250}`, id) })
	newSrv := serve(func(id string) string {
		if id == "13" {
			return `{"id":13,"price":12.51}` // the one real difference
		}
		return fmt.Sprintf(`{"id":%s,"price":12.5}`, id)
	})
	legacyURL, _ := url.Parse(legacy.URL)
	newURL, _ := url.Parse(newSrv.URL)

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := host.New(host.Config{Name: "cents", Path: bins["cents-comparator"], Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	ctx, cancel := context.WithCancel(context.Background())
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	m, err := mirror.New(mirror.Config{
		Legacy: legacyURL, Recorder: rec, Logger: log, Registerer: prometheus.NewRegistry(),
		Routes: []mirror.Route{{Name: "orders", New: newURL, Sample: 1, Rules: diff.Rules{}, Comparator: p.Comparator()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	px, err := proxy.New(proxy.Config{
		Listen: "127.0.0.1:0", Legacy: legacyURL, Hook: m, Logger: log,
		Routes: []route.Spec{{Name: "orders", PathPrefix: "/", New: newURL, Weight: 0, Sticky: "none"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = px.Run(ctx) }()
	go func() { defer wg.Done(); _ = m.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	<-px.Ready()

	const n = 40
	for i := range n {
		resp, err := http.Get(fmt.Sprintf("http://%s/orders/%d", px.Addr(), i))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf(`{"id":%d,"price_cents":1250}`, i); string(body) != want {
			t.Fatalf("client got %s, want the legacy answer %s", body, want)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, _ := m.Stats("orders")
		if st.Compared == n {
			if st.Matched != n-1 || st.Mismatched != 1 || st.Errors != 0 {
				t.Fatalf("stats %+v, want %d matched and 1 mismatch", st, n-1)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("compared %d of %d: %+v", st.Compared, n, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := rec.paths(); len(got) != 1 || got[0] != "/orders/13" {
		t.Fatalf("mismatches recorded for %v, want only /orders/13", got)
	}
	rec.mu.Lock()
	d := rec.recs[0].Diffs
	rec.mu.Unlock()
	if len(d) != 1 || d[0].Path != "$.price" || string(d[0].Legacy) != "12.50" || string(d[0].New) != "12.51" {
		t.Errorf("diffs %+v, want $.price 12.50 vs 12.51", d)
	}
}
