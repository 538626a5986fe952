package dashboard

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/capture/backfill"
	"github.com/ficus-migrate/ficus/internal/admin"
	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// TestBackfillEndpoint: POST /api/capture/{source}/backfill sits behind the
// admin token and the cross-site checks like every other write, refuses bad
// requests with 400 and, on a process that does not stream the source (no
// reader runs the queue here: a standby), answers 409. GET shows the
// backfill section. The queueing itself is tested with the readers.
func TestBackfillEndpoint(t *testing.T) {
	t.Parallel()
	nc := testenv.MustStartNATS(t).Connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := backfill.New(backfill.Config{Source: "legacy", Dialect: canon.Postgres, JS: js})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := admin.New(admin.Config{Listen: "127.0.0.1:0", Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	New(Config{Sources: []Source{{"legacy", "postgres"}, {"shop", "mysql"}},
		Backfill: func(source string) Backfiller {
			if source == "legacy" {
				return mgr
			}
			return nil
		}}).Mount(srv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.Run(ctx) }()
	base := "http://" + srv.Addr()

	for _, tc := range []struct {
		name, path, token, origin, body string
		code                            int
		contains                        string
	}{
		{"no token", "/api/capture/legacy/backfill", "", "", `{"table":"public.t"}`, http.StatusUnauthorized, "token"},
		{"wrong token", "/api/capture/legacy/backfill", "nope", "", `{"table":"public.t"}`, http.StatusUnauthorized, "token"},
		{"cross-site", "/api/capture/legacy/backfill", "s3cret", "http://evil.example", `{"table":"public.t"}`, http.StatusForbidden, "Origin"},
		{"unknown source", "/api/capture/nope/backfill", "s3cret", "", `{"table":"public.t"}`, http.StatusNotFound, "no capture source"},
		{"source without backfill", "/api/capture/shop/backfill", "s3cret", "", `{"table":"shop.t"}`, http.StatusNotImplemented, "no backfill"},
		{"not json", "/api/capture/legacy/backfill", "s3cret", "", `table=public.t`, http.StatusBadRequest, "want {"},
		{"unknown field", "/api/capture/legacy/backfill", "s3cret", "", `{"table":"public.t","chunks":5}`, http.StatusBadRequest, "unknown field"},
		{"table without schema", "/api/capture/legacy/backfill", "s3cret", "", `{"table":"t"}`, http.StatusBadRequest, "schema.table"},
		{"second statement", "/api/capture/legacy/backfill", "s3cret", "", `{"table":"public.t","where":"1=1; DROP TABLE t"}`, http.StatusBadRequest, "second statement"},
		{"chunk too large", "/api/capture/legacy/backfill", "s3cret", "", `{"table":"public.t","chunk":1000000}`, http.StatusBadRequest, "chunk"},
		{"standby", "/api/capture/legacy/backfill", "s3cret", "", `{"table":"public.t","chunk":100}`, http.StatusConflict, "not streaming"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, base+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			code, body := do(t, req)
			if code != tc.code || !strings.Contains(body, tc.contains) {
				t.Errorf("POST %s: %d %s, want %d with %q", tc.path, code, body, tc.code, tc.contains)
			}
		})
	}

	req, _ := http.NewRequest(http.MethodGet, base+"/api/capture/legacy", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	if code, body := do(t, req); code != http.StatusOK || !strings.Contains(body, `"backfill":{"state":"idle","queued":0`) {
		t.Errorf("GET /api/capture/legacy: %d %s, want a backfill section", code, body)
	}
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
