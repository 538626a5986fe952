package rollout

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/testenv"
	rs "github.com/ficus-migrate/ficus/proxy/routestate"
)

// The operator API writes the bucket and publishes an event per action;
// bad requests change nothing.
func TestAdminActions(t *testing.T) {
	n := testenv.MustStartNATS(t)
	nc := n.Connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	store, err := rs.Open(t.Context(), rs.Config{JS: js})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"a", "b"} {
		if _, err := store.Seed(t.Context(), r, rs.State{Weight: 0, Step: -1}); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := nc.SubscribeSync(SubjectPrefix + ">")
	if err != nil {
		t.Fatal(err)
	}
	plan := Plan{Steps: []float64{10, 50, 100}, Interval: time.Minute, OnFailure: Rollback}
	h := NewAdmin(AdminConfig{Store: store, Routes: []string{"a", "b"}, Plans: map[string]Plan{"a": plan},
		Events: nc, Instance: "me"}).Handler()
	cases := []struct {
		method, path, body string
		code               int
		want               string // in the answer
		weight             float64
		event              string // action published, "" for none
	}{
		{"PUT", "/api/routes/a", `{"weight": 40.5}`, 200, `"weight": 40.5`, 40.5, ActSet},
		{"PUT", "/api/routes/a", `{"weight": 40}`, 200, `"manual": true`, 40, ActSet},
		{"PUT", "/api/routes/a", `{"weight": 140}`, 400, "between 0 and 100", 40, ""},
		{"PUT", "/api/routes/a", `{"weight": -1}`, 400, "between 0 and 100", 40, ""},
		{"PUT", "/api/routes/a", `weight=4`, 400, "bad body", 40, ""},
		{"PUT", "/api/routes/a", `{"weight": "4"}`, 400, "bad body", 40, ""},
		{"PUT", "/api/routes/a", `{"weight": 4} {}`, 400, "trailing", 40, ""},
		{"PUT", "/api/routes/a", `{"wieght": 1}`, 400, "unknown field", 40, ""},
		{"PUT", "/api/routes/a", `{}`, 400, "is required", 40, ""},
		{"PUT", "/api/routes/nosuch", `{"weight": 1}`, 404, "unknown route", 40, ""},
		{"POST", "/api/routes/a/promote", ``, 200, `"weight": 50`, 50, ActPromote},
		{"POST", "/api/routes/b/promote", ``, 409, "no rollout", 50, ""},
		{"POST", "/api/routes/a/boost", ``, 400, "unknown action", 50, ""},
		{"POST", "/api/routes/a/pause", ``, 200, `"phase": "paused"`, 50, ActPause},
		{"POST", "/api/routes/a/resume", ``, 200, `"phase": "rolling"`, 50, ActResume},
		{"POST", "/api/routes/a/rollback", ``, 200, `"phase": "rolled_back"`, 0, ActRollback},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, strings.NewReader(c.body)))
		if rec.Code != c.code || !strings.Contains(rec.Body.String(), c.want) {
			t.Fatalf("%s %s %s: %d %s, want %d containing %q", c.method, c.path, c.body, rec.Code, rec.Body, c.code, c.want)
		}
		if st, _, err := store.Get(t.Context(), "a"); err != nil || st.Weight != c.weight {
			t.Fatalf("%s %s %s: bucket weight %v (%v), want %v", c.method, c.path, c.body, st.Weight, err, c.weight)
		}
		if c.event == "" {
			continue
		}
		m, err := evs.NextMsg(2 * time.Second)
		if err != nil {
			t.Fatalf("%s %s: no event: %v", c.method, c.path, err)
		}
		var ev Event
		if err := json.Unmarshal(m.Data, &ev); err != nil || ev.Action != c.event || ev.Route != "a" || ev.By != "me" || ev.To != c.weight {
			t.Fatalf("%s %s: event %s (%v), want action %s to %v", c.method, c.path, m.Data, err, c.event, c.weight)
		}
	}
	if m, err := evs.NextMsg(100 * time.Millisecond); err != nats.ErrTimeout {
		t.Fatalf("unexpected event %v (%v)", m, err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/rollout", nil))
	var list []struct {
		Name string `json:"name"`
		Plan *struct {
			Interval string `json:"interval"`
		} `json:"rollout"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || len(list) != 2 || list[0].Name != "a" ||
		list[0].Plan == nil || list[0].Plan.Interval != "1m0s" || list[1].Plan != nil {
		t.Fatalf("GET /api/rollout: %s (%v)", rec.Body, err)
	}
}
