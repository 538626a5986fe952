package client_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/internal/admin/client"
	rs "github.com/ficus-migrate/ficus/proxy/routestate"
)

// Approve: 409 with the reason while the route waits for nothing, 401
// without the token, 403 from another site's page (the dashboard's button
// is the same POST), and the approval recorded once the route waits.
func TestApprove(t *testing.T) {
	f := startFicus(t)
	ctx := t.Context()
	c := f.client(token)

	_, err := c.Approve(ctx, "orders")
	var se *client.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusConflict || se.Path != "/api/routes/orders/approve" ||
		!strings.Contains(se.Body, "not waiting for approval") {
		t.Fatalf("approve of a route that does not wait: %v, want 409 with the reason", err)
	}

	// The wait as the lease holder records it (proxy/rollout's controller).
	since := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	if _, err := f.store.Update(ctx, "orders", func(st rs.State) (rs.State, error) {
		st.Phase, st.AwaitingApproval, st.AwaitingSince = rs.PhaseRolling, 50, since
		return st, nil
	}); err != nil {
		t.Fatal(err)
	}
	states, err := c.Rollout(ctx)
	if err != nil || len(states) != 1 || !states[0].Waiting() || states[0].AwaitingApproval != 50 || !states[0].AwaitingSince.Equal(since) {
		t.Fatalf("GET /api/rollout while waiting = %+v, %v: want waiting for 50 since %v", states, err, since)
	}

	if _, err := f.client("").Approve(ctx, "orders"); !errors.As(err, &se) || se.Code != http.StatusUnauthorized {
		t.Fatalf("approve without the token: %v, want 401", err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.base+"/api/routes/orders/approve", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "https://evil.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("approve from another site's page: %s, want 403", resp.Status)
	}
	if st, _, err := f.store.Get(ctx, "orders"); err != nil || !st.Waiting() {
		t.Fatalf("a refused approval changed the route: %+v, %v", st, err)
	}

	v, err := c.Approve(ctx, "orders")
	if err != nil || v.Name != "orders" || v.Weight != 10 || v.Manual || v.ApprovedBy != "test" || v.ApprovedAt.IsZero() || v.Waiting() {
		t.Fatalf("Approve = %+v, %v: want the approval recorded, weight and controller untouched", v, err)
	}
	if _, err := c.Approve(ctx, "orders"); !errors.As(err, &se) || se.Code != http.StatusConflict || !strings.Contains(se.Body, "already approved") {
		t.Fatalf("approving twice: %v, want 409", err)
	}
}
