package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ficus-migrate/ficus/internal/testenv"
)

const adminGuardConfig = `
nats: {embedded: {listen: "127.0.0.1:0", store_dir: %q}}
admin: {listen: %q%s}
proxy:
  listen: %q
  legacy: %q
  routes:
    - name: orders
      match: {path_prefix: /api/orders}
      new: %q
      weight: 10
      sticky: none
      rollout: {steps: [10, 50, 100], interval: 1h}
`

// The attack of the issue "Secure by default", against a real ficus: a page
// of another site posts a form to /api/routes/orders/promote (twice), or
// reaches the admin listener through a rebound DNS name. Neither may move
// the weight, with or without a token; the operator's own JSON request does.
func TestAdminRefusesCrossSiteRequests(t *testing.T) {
	legacy, newSvc := backend("legacy"), backend("new")
	defer legacy.Close()
	defer newSvc.Close()
	bin := buildFicus(t)
	for _, tc := range []struct{ name, token string }{
		{"loopback without token", ""},
		{"with token", "adm-s3cret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tokenKey := ""
			if tc.token != "" {
				t.Setenv("GUARD_TOKEN", tc.token)
				tokenKey = `, token: "${GUARD_TOKEN}"`
			}
			adminAddr := freeAddr(t)
			cfg := writeConfig(t, fmt.Sprintf(adminGuardConfig, t.TempDir(), adminAddr, tokenKey, freeAddr(t), legacy.URL, newSvc.URL))
			logs := &testenv.LogBuffer{}
			proc := startFicus(t, bin, logs, "run", "-c", cfg)
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("ficus logs:\n%s", tail(logs.String(), 8000))
				}
			})
			base := "http://" + adminAddr
			waitAdminReady(t, adminAddr, tc.token, proc.exited)
			api := adminAPI(adminAddr, tc.token)
			// send is raw HTTP on purpose: it forges what a browser sends
			// (Origin, Host, form bodies), which the admin client never does.
			send := func(method, path string, hdr map[string]string) (int, string) {
				t.Helper()
				req, _ := http.NewRequest(method, base+path, strings.NewReader("weight=100"))
				for k, v := range hdr {
					if k == "Host" {
						req.Host = v
					} else {
						req.Header.Set(k, v)
					}
				}
				if tc.token != "" && hdr["Authorization"] == "" {
					req.Header.Set("Authorization", "Bearer "+tc.token)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			weight := func() float64 {
				t.Helper()
				states, err := api.Rollout(t.Context())
				if err != nil || len(states) != 1 {
					t.Fatalf("GET /api/rollout = %+v (%v)", states, err)
				}
				return states[0].Weight
			}
			const promote = "/api/routes/orders/promote"
			form := map[string]string{"Origin": "http://evil.example", "Content-Type": "application/x-www-form-urlencoded"}
			for i := range 2 {
				code, body := send(http.MethodPost, promote, form)
				if code != http.StatusForbidden || !strings.Contains(body, `"error":"Origin \"http://evil.example\"`) {
					t.Fatalf("cross-site form post %d = %d %s, want 403 naming the Origin", i+1, code, body)
				}
				if w := weight(); w != 10 {
					t.Fatalf("after cross-site form post %d the weight is %v, want 10", i+1, w)
				}
			}
			// A form whose Origin the browser left out still cannot be JSON.
			if code, body := send(http.MethodPost, promote, map[string]string{"Content-Type": "text/plain"}); code != http.StatusUnsupportedMediaType {
				t.Fatalf("text/plain post = %d %s, want 415", code, body)
			}
			// DNS rebinding: evil.example now resolves to 127.0.0.1, the browser says so in Host.
			rebound := map[string]string{"Host": "evil.example:" + portOf(adminAddr), "Content-Type": "application/json"}
			if code, body := send(http.MethodPost, promote, rebound); code != http.StatusForbidden || !strings.Contains(body, "admin.allowed_hosts") {
				t.Fatalf("post through a rebound name = %d %s, want 403", code, body)
			}
			if code, body := send(http.MethodGet, "/api/routes", rebound); code != http.StatusForbidden || !strings.Contains(body, "DNS rebinding") {
				t.Fatalf("read through a rebound name = %d %s, want 403", code, body)
			}
			if w := weight(); w != 10 {
				t.Fatalf("after the refused requests the weight is %v, want 10", w)
			}

			// The dashboard's own request: same origin, JSON, the token if any.
			own := map[string]string{"Origin": base, "Content-Type": "application/json"}
			if code, body := send(http.MethodPost, promote, own); code != http.StatusOK {
				t.Fatalf("same-origin JSON promote = %d %s", code, body)
			}
			if w := weight(); w != 50 {
				t.Fatalf("after the operator's promote the weight is %v, want 50", w)
			}
			// And the CLI's (no Origin), through `ficus routes`.
			t.Setenv("FICUS_ADMIN_TOKEN", tc.token)
			var out bytes.Buffer
			if code := runFicus(context.Background(), t, &out, &out, "routes", "promote", "orders", "--admin", base); code != 0 {
				t.Fatalf("ficus routes promote: exit %d: %s", code, out.String())
			}
			if w := weight(); w != 100 {
				t.Fatalf("after ficus routes promote the weight is %v, want 100", w)
			}
			metrics, err := api.Metrics(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{
				`ficus_admin_refused_total{reason="origin"} 2`,
				`ficus_admin_refused_total{reason="content_type"} 1`,
				`ficus_admin_refused_total{reason="host"} 2`,
			} {
				if !strings.Contains(metrics, want) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
		})
	}
}

func portOf(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }
