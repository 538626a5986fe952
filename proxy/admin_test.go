package proxy

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/proxy/route"
)

func TestAdminAPI(t *testing.T) {
	legacy := newEcho(t, "legacy", nil)
	newB := newEcho(t, "new", nil)
	p, base := startProxy(t, Config{
		Legacy: legacy.url(t),
		Routes: []route.Spec{
			{Name: "orders", PathPrefix: "/api/orders", Methods: []string{"GET"}, New: newB.url(t), Weight: 0,
				Sticky: "header:X-User", PinNew: []string{"u7"}},
			{Name: "other", PathPrefix: "/other", New: newB.url(t), Weight: 12.5},
		},
	})
	admin := httptest.NewServer(p.AdminHandler())
	t.Cleanup(admin.Close)

	get := func(path string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for range 3 {
		get("/api/orders/1")
	}

	do := func(method, path, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, admin.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: Content-Type %q", method, path, ct)
		}
		return resp.StatusCode, b
	}

	code, b := do("GET", "/api/routes", "")
	var list []RouteInfo
	if err := json.Unmarshal(b, &list); code != 200 || err != nil {
		t.Fatalf("GET: %d %v %s", code, err, b)
	}
	if len(list) != 2 || list[0].Name != "orders" || list[1].Name != "other" || list[1].Weight != 12.5 {
		t.Fatalf("routes %+v", list)
	}
	o := list[0]
	if o.Sticky != "header:X-User" || o.New != newB.URL || o.Match.PathPrefix != "/api/orders" ||
		fmt.Sprint(o.Match.Methods) != "[GET]" || fmt.Sprint(o.PinNew) != "[u7]" || list[1].Sticky != "none" {
		t.Fatalf("orders route %+v", o)
	}
	if o.Counts.Legacy.Requests != 3 || o.Counts.Legacy.Status["2xx"] != 3 || o.Counts.New.Requests != 0 {
		t.Fatalf("counts %+v", o.Counts)
	}

	// Weights change through the shared route state, which calls SetWeight;
	// a refused change leaves the table as it was.
	if err := p.SetWeight("orders", 100); err != nil {
		t.Fatal(err)
	}
	if err := p.SetWeight("other", 40.5); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		name string
		w    float64
	}{{"nope", 1}, {"orders", 140}, {"orders", -1}} {
		if err := p.SetWeight(bad.name, bad.w); err == nil {
			t.Fatalf("SetWeight(%q, %v) succeeded", bad.name, bad.w)
		}
	}
	// The refused changes left weight 100 in place, so traffic now goes to
	// new and the counters carried over from before the swaps.
	get("/api/orders/2")
	code, b = do("GET", "/api/routes", "")
	list = nil
	if err := json.Unmarshal(b, &list); code != 200 || err != nil {
		t.Fatal(code, err)
	}
	if list[0].Weight != 100 || list[1].Weight != 40.5 || list[0].Counts.New.Requests != 1 || list[0].Counts.Legacy.Requests != 3 {
		t.Fatalf("after SetWeight: %+v", list)
	}
	// The proxy's own API is read-only.
	for _, m := range []string{"POST /api/routes", "PUT /api/routes/orders"} {
		method, path, _ := strings.Cut(m, " ")
		req, _ := http.NewRequest(method, admin.URL+path, strings.NewReader(`{"weight": 1}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed && resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s: %d", m, resp.StatusCode)
		}
	}
}

func TestSetRoutesInvalidKeepsTable(t *testing.T) {
	legacy := newEcho(t, "legacy", nil)
	newB := newEcho(t, "new", nil)
	p, base := startProxy(t, Config{
		Legacy: legacy.url(t), ServedByHeader: true,
		Routes: []route.Spec{{Name: "api", PathPrefix: "/api", New: newB.url(t), Weight: 100}},
	})
	err := p.SetRoutes([]route.Spec{{Name: "api", PathRegex: "(", New: newB.url(t)}})
	if err == nil || !strings.Contains(err.Error(), "path_regex") {
		t.Fatalf("err = %v", err)
	}
	resp, err := http.Get(base + "/api/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Ficus-Served-By") != "new" {
		t.Fatal("old table was not kept after an invalid SetRoutes")
	}
}

// TestSwapUnderLoad swaps tables and weights continuously while clients
// send a bounded number of requests; not one may fail.
func TestSwapUnderLoad(t *testing.T) {
	const clients, perClient = 4, 750
	legacy := newEcho(t, "legacy", nil)
	new1 := newEcho(t, "new1", nil)
	new2 := newEcho(t, "new2", nil)
	p, base := startProxy(t, Config{
		Legacy: legacy.url(t),
		Routes: []route.Spec{{Name: "api", PathPrefix: "/api", New: new1.url(t), Weight: 50}},
	})
	variants := [][]route.Spec{
		{{Name: "api", PathPrefix: "/api", New: new2.url(t), Weight: 30, Sticky: "header:X-User"}},
		{{Name: "first", Path: "/nothing", New: new1.url(t)}, {Name: "api", PathPrefix: "/api", New: new1.url(t), Weight: 70,
			StripPrefix: "/api", AddPrefix: "/api"}},
		{{Name: "api", PathPrefix: "/api", New: new2.url(t), Weight: 100}},
	}
	stop := make(chan struct{})
	swapErr := make(chan error, 1)
	swaps := 0
	go func() {
		defer close(swapErr)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			var err error
			if i%2 == 0 {
				err = p.SetRoutes(variants[(i/2)%len(variants)])
			} else {
				err = p.SetWeight("api", float64(i%101))
			}
			if err != nil {
				swapErr <- err
				return
			}
			swaps++
			time.Sleep(time.Millisecond) // leave the 2 shared cores to the clients
		}
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perClient {
				req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/item/%d", base, i), nil)
				req.Header.Set("X-User", fmt.Sprintf("u%d-%d", c, i))
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					var s seen
					err = json.NewDecoder(resp.Body).Decode(&s)
					resp.Body.Close()
					if err == nil && (resp.StatusCode != 200 || s.Path != fmt.Sprintf("/api/item/%d", i)) {
						err = fmt.Errorf("status %d path %q", resp.StatusCode, s.Path)
					}
				}
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err := <-swapErr; err != nil {
		t.Fatalf("swap: %v", err)
	}
	if len(failures) > 0 {
		t.Fatalf("%d of %d requests failed during %d swaps; first: %s", len(failures), clients*perClient, swaps, failures[0])
	}
	if swaps < 10 {
		t.Fatalf("only %d swaps happened; the test did not exercise swapping", swaps)
	}
	var api RouteInfo
	for _, r := range p.Routes() {
		if r.Name == "api" {
			api = r
		}
	}
	if total := api.Counts.Legacy.Requests + api.Counts.New.Requests; total != clients*perClient {
		t.Fatalf("route counters saw %d requests, want %d (lost across swaps?)", total, clients*perClient)
	}
}
