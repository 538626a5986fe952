package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ficus-migrate/ficus/internal/admin/client"
	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/shadow/traffic/mirror"
)

const dashboardConfig = `
nats: {embedded: {listen: "127.0.0.1:0", store_dir: %q}}
admin: {listen: %q, token: "${DASH_TOKEN}"}
proxy:
  listen: %q
  legacy: %q
  routes:
    - name: orders
      match: {path_prefix: /api/orders}
      new: %q
      weight: 50
      sticky: none
      shadow: {enabled: true, timeout: 1s}
      record: {enabled: true, sample: 1.0}
`

// The dashboard as an operator uses it: real ficus with traffic, the page in
// a real headless Chromium. The figures it shows must be the admin API's,
// a mismatch signature opens its side-by-side diff, and its rollback button
// takes the route's weight to 0.
func TestDashboardInBrowser(t *testing.T) {
	chromium := findChromium(t)
	side := func(bugEvery int) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/api/orders/"))
			price := 100
			if bugEvery > 0 && id%bugEvery == 0 {
				price = 101 // the new service's rounding bug
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":%d,"price":%d}`, id, price)
		}))
	}
	legacy, newSvc := side(0), side(4)
	defer legacy.Close()
	defer newSvc.Close()
	const token = "dash-s3cret"
	t.Setenv("DASH_TOKEN", token)
	adminAddr, proxyAddr := freeAddr(t), freeAddr(t)
	cfg := writeConfig(t, fmt.Sprintf(dashboardConfig, t.TempDir(), adminAddr, proxyAddr, legacy.URL, newSvc.URL))
	logs := &testenv.LogBuffer{}
	proc := startFicus(t, buildFicus(t), logs, "run", "-c", cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ficus logs:\n%s", tail(logs.String(), 8000))
		}
	})
	admin := "http://" + adminAddr
	waitAdminReady(t, adminAddr, token, proc.exited)
	api := adminAPI(adminAddr, token)

	const n = 40
	for i := range n {
		resp, err := http.Get(fmt.Sprintf("http://%s/api/orders/%d", proxyAddr, i+1))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	var sh mirror.Stats
	for deadline := time.Now().Add(10 * time.Second); sh.Compared < n; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d requests compared", sh.Compared, n)
		}
		var err error
		if sh, err = api.Shadow(t.Context(), "orders"); err != nil {
			t.Fatal(err)
		}
	}
	routes, err := api.Routes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) != 1 || routes[0].Counts.Legacy.Requests+routes[0].Counts.New.Requests != n {
		t.Fatalf("admin API routes: %+v", routes)
	}

	ctx := browser(t, chromium)
	row := `tr[data-route="orders"] `
	cell := func(field string) chromedp.CSS { return chromedp.CSS(row + `td[data-field="` + field + `"]`) }
	// The token travels in the fragment, as an operator's bookmark would carry it.
	err = chromedp.Do(ctx,
		chromedp.Navigate(admin+"/#token="+token),
		chromedp.WaitVisible(cell("compared")),
		void(chromedp.Poll[bool](fmt.Sprintf(`document.querySelector('%s').textContent === "%d"`, cell("compared"), n),
			chromedp.WithPollingTimeout(10*time.Second))),
	)
	if err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	text := func(sel chromedp.CSS) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	want := map[string][2]string{
		"weight":          {text(cell("weight")), fmt.Sprint(routes[0].Weight)},
		"legacy requests": {text(cell("legacy_requests")), fmt.Sprint(routes[0].Counts.Legacy.Requests)},
		"new requests":    {text(cell("new_requests")), fmt.Sprint(routes[0].Counts.New.Requests)},
		"match rate":      {text(cell("match_rate")), fmt.Sprintf("%.2f %%", sh.MatchRate*100)},
	}
	for what, v := range want {
		if v[0] != v[1] {
			t.Errorf("dashboard shows %s %q, admin API says %q", what, v[0], v[1])
		}
	}
	if sh.MatchRate >= 1 || sh.MatchRate <= 0.5 {
		t.Fatalf("match rate %v: the new side's bug should show in a quarter of answers", sh.MatchRate)
	}

	// The recordings panel (FICUS_TRAFFIC, recorded beside the shadow).
	recorded := `#recordings tr[data-recording="orders"] td[data-field="count"]`
	err = chromedp.Do(ctx, void(chromedp.Poll[bool](fmt.Sprintf(`(document.querySelector('%s') || {}).textContent === "%d"`, recorded, n),
		chromedp.WithPollingTimeout(15*time.Second))))
	if err != nil {
		t.Fatalf("recordings panel: %v", err)
	}

	// The mismatch signature (from FICUS_SHADOW) opens its side-by-side diff.
	err = chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(`#signatures tr.sig`)),
		chromedp.Click(chromedp.CSS(`#signatures tr.sig`)),
		chromedp.WaitVisible(chromedp.CSS(`#diffview`)),
	)
	if err != nil {
		t.Fatalf("signatures: %v", err)
	}
	diffPath, legacyBody, newBody := text(`#diff-paths td[data-field="path"]`), text(`#diff-legacy`), text(`#diff-new`)
	if diffPath != "$.price" || !strings.Contains(legacyBody, `"price": 100`) || !strings.Contains(newBody, `"price": 101`) {
		t.Fatalf("diff view: path %q\nlegacy %s\nnew %s", diffPath, legacyBody, newBody)
	}
	if shot := os.Getenv("FICUS_DASHBOARD_SCREENSHOT"); shot != "" {
		time.Sleep(5 * time.Second)                                 // a few seconds of chart
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(shot, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Rollback from the page: the weight goes to 0 for real, and the page says so.
	err = chromedp.Do(ctx,
		void(chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`)),
		chromedp.Click(chromedp.CSS(row+`button[data-action="rollback"]`)),
		void(chromedp.Poll[bool](fmt.Sprintf(`document.querySelector('%s').textContent === "0"`, cell("weight")),
			chromedp.WithPollingTimeout(5*time.Second))),
	)
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if routes, err = api.Routes(t.Context()); err != nil {
		t.Fatal(err)
	}
	if routes[0].Weight != 0 {
		t.Fatalf("after rollback the admin API says weight %v", routes[0].Weight)
	}
	// Without the token, the page shell loads but no figure does.
	var se *client.StatusError
	if err := adminAPI(adminAddr, "").Get(t.Context(), "/api/capture", nil); !errors.As(err, &se) || se.Code != http.StatusUnauthorized {
		t.Fatalf("GET /api/capture without the token: %v", err)
	}
}

func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: run deploy/install-deps.sh test (as root it installs Debian's chromium)")
	return ""
}

// browser starts a headless Chromium of its own (a fresh profile; no
// network beyond loopback), stopped when the test ends.
func browser(t *testing.T, path string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1280, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return ctx
}

// void makes a step of an action whose value the test does not need.
func void[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, t)
		return chromedp.Void{}, err
	}
}
