package forward

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/proxy/route"
	"github.com/ficus-migrate/ficus/proxy/upstream"
)

func TestPlainHTTPRouting(t *testing.T) {
	legacy := newBackend(t, "legacy")
	other := newBackend(t, "other")
	newSrv := newBackend(t, "new")
	lh := hostOf(t, legacy.URL)
	newBase := mustURL(t, newSrv.URL+"/base")

	tests := []struct {
		name       string
		routes     []route.Spec
		servedBy   bool
		url        string
		wantServer string
		wantPath   string
		wantHost   string
		wantSide   string // "" = header must be absent
		wantRoute  string
	}{
		{
			name: "no routes keeps the original destination", servedBy: true,
			url: legacy.URL + "/items?q=1", wantServer: "legacy", wantPath: "/items", wantHost: lh,
			wantSide: "legacy", wantRoute: route.DefaultName,
		},
		{
			name: "host route at weight 100 goes to new", servedBy: true,
			routes: []route.Spec{{Name: "items", Host: lh, PathPrefix: "/items", New: newBase, Weight: 100}},
			url:    legacy.URL + "/items/7?q=1", wantServer: "new", wantPath: "/base/items/7",
			wantHost: newBase.Host, wantSide: "new", wantRoute: "items",
		},
		{
			name: "strip and add prefix apply on the new side", servedBy: true,
			routes: []route.Spec{{Name: "items", Host: lh, New: newBase, Weight: 100, StripPrefix: "/items", AddPrefix: "/v2"}},
			url:    legacy.URL + "/items/7", wantServer: "new", wantPath: "/base/v2/7",
			wantHost: newBase.Host, wantSide: "new", wantRoute: "items",
		},
		{
			name: "weight 0 keeps legacy", servedBy: true,
			routes: []route.Spec{{Name: "items", Host: lh, New: newBase, Weight: 0}},
			url:    legacy.URL + "/items", wantServer: "legacy", wantPath: "/items", wantHost: lh,
			wantSide: "legacy", wantRoute: "items",
		},
		{
			name: "route for another host does not match", servedBy: true,
			routes: []route.Spec{{Name: "items", Host: lh, New: newBase, Weight: 100}},
			url:    other.URL + "/items", wantServer: "other", wantPath: "/items", wantHost: hostOf(t, other.URL),
			wantSide: "legacy", wantRoute: route.DefaultName,
		},
		{
			name:   "no served-by headers unless enabled",
			routes: []route.Spec{{Name: "items", Host: lh, New: newBase, Weight: 100}},
			url:    legacy.URL + "/x", wantServer: "new", wantPath: "/base/x", wantHost: newBase.Host,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, reg := startProxy(t, Config{Routes: tc.routes, ServedByHeader: tc.servedBy,
				Allow: allowTo(t, legacy.URL, other.URL)})
			resp, body := get(t, client(p, nil), tc.url, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, body %s", resp.StatusCode, body)
			}
			e := decodeEcho(t, body)
			if e.Server != tc.wantServer || e.Path != tc.wantPath || e.Host != tc.wantHost {
				t.Errorf("backend saw server=%q path=%q host=%q, want %q %q %q",
					e.Server, e.Path, e.Host, tc.wantServer, tc.wantPath, tc.wantHost)
			}
			if got := resp.Header.Get(servedByKey); got != tc.wantSide {
				t.Errorf("%s = %q, want %q", servedByKey, got, tc.wantSide)
			}
			if got := resp.Header.Get(routeKey); got != tc.wantRoute {
				t.Errorf("%s = %q, want %q", routeKey, got, tc.wantRoute)
			}
			side := "legacy"
			if tc.wantServer == "new" {
				side = "new"
			}
			if n := counter(t, reg, "ficus_proxy_forward_requests_total", map[string]string{"side": side, "code_class": "2xx"}); n != 1 {
				t.Errorf("requests_total{side=%s,2xx} = %v, want 1", side, n)
			}
		})
	}
}

func TestUpstreamErrors(t *testing.T) {
	dead := "http://" + closedAddr(t)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers; the proxy must give up first
	}))
	t.Cleanup(slow.Close)
	live := newBackend(t, "legacy")

	tests := []struct {
		name      string
		routes    []route.Spec
		url       string
		wantCode  int
		wantError string
		wantSide  string
		wantKind  string
	}{
		{name: "legacy down", url: dead + "/x", wantCode: http.StatusBadGateway,
			wantError: "upstream unreachable", wantSide: "legacy", wantKind: kindUnreachable},
		{name: "new down",
			routes: []route.Spec{{Name: "r", Host: hostOf(t, live.URL), New: mustURL(t, dead), Weight: 100}},
			url:    live.URL + "/x", wantCode: http.StatusBadGateway,
			wantError: "upstream unreachable", wantSide: "new", wantKind: kindUnreachable},
		{name: "legacy too slow", url: slow.URL + "/x", wantCode: http.StatusGatewayTimeout,
			wantError: "upstream timeout", wantSide: "legacy", wantKind: kindTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, reg := startProxy(t, Config{Routes: tc.routes, ServedByHeader: true,
				Timeouts: upstream.Timeouts{ResponseHeader: 300 * time.Millisecond},
				Allow:    allowTo(t, dead, slow.URL, live.URL)})
			resp, body := get(t, client(p, nil), tc.url, nil)
			if resp.StatusCode != tc.wantCode {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tc.wantCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var got struct{ Error, Upstream string }
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("body %q is not JSON: %v", body, err)
			}
			if got.Error != tc.wantError || got.Upstream != tc.wantSide {
				t.Errorf("body %s, want error %q upstream %q", body, tc.wantError, tc.wantSide)
			}
			if s := resp.Header.Get(servedByKey); s != tc.wantSide {
				t.Errorf("%s = %q, want %q", servedByKey, s, tc.wantSide)
			}
			if n := counter(t, reg, "ficus_proxy_forward_upstream_errors_total",
				map[string]string{"side": tc.wantSide, "kind": tc.wantKind}); n != 1 {
				t.Errorf("upstream_errors_total{%s,%s} = %v, want 1", tc.wantSide, tc.wantKind, n)
			}
		})
	}
}

func TestSwapRoutesAtRuntime(t *testing.T) {
	legacy := newBackend(t, "legacy")
	newSrv := newBackend(t, "new")
	spec := route.Spec{Name: "r", Host: hostOf(t, legacy.URL), New: mustURL(t, newSrv.URL), Weight: 0}
	p, _ := startProxy(t, Config{Routes: []route.Spec{spec}, Allow: allowTo(t, legacy.URL)})
	c := client(p, nil)
	serverFor := func() string {
		_, body := get(t, c, legacy.URL+"/", nil)
		return decodeEcho(t, body).Server
	}
	if s := serverFor(); s != "legacy" {
		t.Fatalf("weight 0 served by %q", s)
	}
	if err := p.SetWeight("r", 100); err != nil {
		t.Fatal(err)
	}
	if s := serverFor(); s != "new" {
		t.Fatalf("after SetWeight 100 served by %q", s)
	}
	if err := p.SetRoutes([]route.Spec{{Name: "bad"}}); err == nil {
		t.Fatal("SetRoutes accepted a route without a new URL")
	}
	if s := serverFor(); s != "new" {
		t.Fatalf("a rejected table replaced the current one: served by %q", s)
	}
	if err := p.SetRoutes(nil); err != nil {
		t.Fatal(err)
	}
	if s := serverFor(); s != "legacy" {
		t.Fatalf("after removing routes served by %q", s)
	}
	if err := p.SetWeight("r", 50); err == nil {
		t.Fatal("SetWeight on a removed route succeeded")
	}
}

func TestAcceptEncodingPassthrough(t *testing.T) {
	plain := bytes.Repeat([]byte("ficus forward "), 64)
	var (
		mu     sync.Mutex
		sent   []byte
		gotAEs []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ae := r.Header.Get("Accept-Encoding")
		mu.Lock()
		gotAEs = append(gotAEs, ae)
		mu.Unlock()
		if !strings.Contains(ae, "gzip") {
			_, _ = w.Write(plain)
			return
		}
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(plain)
		_ = zw.Close()
		mu.Lock()
		sent = buf.Bytes()
		mu.Unlock()
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(buf.Bytes())
	}))
	t.Cleanup(srv.Close)
	p, _ := startProxy(t, Config{Allow: allowTo(t, srv.URL)})
	c := client(p, nil)

	resp, body := get(t, c, srv.URL+"/z", http.Header{"Accept-Encoding": {"gzip"}})
	if ce := resp.Header.Get("Content-Encoding"); ce != "gzip" {
		t.Errorf("Content-Encoding %q, want gzip", ce)
	}
	mu.Lock()
	want := sent
	mu.Unlock()
	if !bytes.Equal(body, want) {
		t.Errorf("client got %d bytes, upstream sent %d gzip bytes; they differ", len(body), len(want))
	}

	resp, body = get(t, c, srv.URL+"/plain", nil)
	if ce := resp.Header.Get("Content-Encoding"); ce != "" || !bytes.Equal(body, plain) {
		t.Errorf("without Accept-Encoding got Content-Encoding %q and %d bytes", ce, len(body))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(gotAEs) != 2 || gotAEs[0] != "gzip" || gotAEs[1] != "" {
		t.Errorf("upstream saw Accept-Encoding %q, want [gzip, \"\"] (no header added by the proxy)", gotAEs)
	}
}

func TestHopByHopHeadersRemoved(t *testing.T) {
	legacy := newBackend(t, "legacy")
	p, _ := startProxy(t, Config{Allow: allowTo(t, legacy.URL)})
	_, body := get(t, client(p, nil), legacy.URL+"/", http.Header{
		"Connection":          {"X-Hop"},
		"X-Hop":               {"1"},
		"Keep-Alive":          {"timeout=5"},
		"Proxy-Authorization": {"Basic c2VjcmV0OnNlY3JldA=="},
		"X-End-To-End":        {"kept"},
	})
	h := decodeEcho(t, body).Header
	for _, k := range []string{"X-Hop", "Keep-Alive", "Proxy-Authorization"} {
		if v, ok := h[k]; ok {
			t.Errorf("upstream received hop-by-hop header %s: %q", k, v)
		}
	}
	if h.Get("X-End-To-End") != "kept" {
		t.Errorf("end-to-end header lost: %v", h)
	}
}

func TestSaturatedGets503(t *testing.T) {
	entered := make(chan struct{}, 1)
	unblock := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		select {
		case <-unblock:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	p, reg := startProxy(t, Config{MaxConcurrent: 1, Allow: allowTo(t, srv.URL)})
	c := client(p, nil)
	first := make(chan int, 1)
	go func() {
		resp, err := c.Get(srv.URL + "/slow")
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	<-entered // the only slot is now taken
	resp, body := get(t, c, srv.URL+"/second", nil)
	close(unblock)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"proxy saturated"`) {
		t.Errorf("second request: %d %s, want 503 proxy saturated", resp.StatusCode, body)
	}
	if code := <-first; code != http.StatusOK {
		t.Errorf("first request: status %d, want 200", code)
	}
	if n := counter(t, reg, "ficus_proxy_forward_saturated_total", map[string]string{"what": "request"}); n != 1 {
		t.Errorf("saturated_total = %v, want 1", n)
	}
	// The slot is released once the first body is relayed. The third
	// handler's signal fits in entered's buffer; it is drained afterwards.
	if resp, _ := get(t, c, srv.URL+"/third", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("third request: status %d; slot not released after the first completed", resp.StatusCode)
	}
	<-entered
}

func TestNonProxyRequest(t *testing.T) {
	p, _ := startProxy(t, Config{})
	resp, err := http.Get("http://" + p.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("origin-form request: %d %s, want 400 JSON", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestResponseHopByHopRemoved(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "X-Resp-Hop")
		w.Header().Set("X-Resp-Hop", "1")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-End-To-End", "kept")
	}))
	t.Cleanup(srv.Close)
	p, _ := startProxy(t, Config{Allow: allowTo(t, srv.URL)})
	resp, _ := get(t, client(p, nil), srv.URL+"/", nil)
	for _, k := range []string{"X-Resp-Hop", "Keep-Alive"} {
		if v, ok := resp.Header[k]; ok {
			t.Errorf("client received hop-by-hop header %s: %q", k, v)
		}
	}
	if resp.Header.Get("X-End-To-End") != "kept" {
		t.Errorf("end-to-end header lost: %v", resp.Header)
	}
}
