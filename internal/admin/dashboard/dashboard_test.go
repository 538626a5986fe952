package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/capture/standby"
	"github.com/ficus-migrate/ficus/shadow/traffic/recording"
	"github.com/prometheus/client_golang/prometheus"
)

// mux is the admin listener's split: public patterns and the rest.
type mux struct{ public, private *http.ServeMux }

func (m mux) Handle(p string, h http.Handler)       { m.private.Handle(p, h) }
func (m mux) HandlePublic(p string, h http.Handler) { m.public.Handle(p, h) }

// TestCaptureFigures: GET /api/capture shows each configured source's
// figures as the capture metrics hold them, summed over tables and ops.
func TestCaptureFigures(t *testing.T) {
	reg := prometheus.NewRegistry()
	met, err := capture.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	met.Events.WithLabelValues("legacy", "public.orders", "c").Add(7)
	met.Events.WithLabelValues("legacy", "public.orders", "u").Add(3)
	met.Events.WithLabelValues("legacy", "public.items", "c").Add(5)
	met.Events.WithLabelValues("other", "public.x", "c").Add(100) // not configured: not shown
	met.LagSeconds.WithLabelValues("shop").Set(2.5)
	met.SlotLagBytes.WithLabelValues("legacy").Set(4096)
	met.SnapshotDone.WithLabelValues("shop", "shop.orders").Set(50)
	met.SnapshotTotal.WithLabelValues("shop", "shop.orders").Set(200)

	m := mux{http.NewServeMux(), http.NewServeMux()}
	stopped := errors.New("source shop failed: publish x (table shop.big) to ficus.cdc.shop.shop.big: nats: maximum payload exceeded")
	New(Config{Gatherer: reg, Sources: []Source{{"legacy", "postgres"}, {"shop", "mysql"}}, Failure: func(s string) error {
		if s == "shop" {
			return stopped
		}
		return nil
	}}).Mount(m)
	rec := httptest.NewRecorder()
	m.private.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/capture", nil))
	var got []SourceFigures
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	tests := []struct {
		i                                 int
		name                              string
		events, lag, slotLag, done, total float64
		failed                            bool
		err                               string
	}{
		{0, "legacy", 15, 0, 4096, 0, 0, false, ""},
		{1, "shop", 0, 2.5, 0, 50, 200, true, stopped.Error()},
	}
	if len(got) != len(tests) {
		t.Fatalf("got %d sources, want %d: %+v", len(got), len(tests), got)
	}
	for _, tc := range tests {
		g := got[tc.i]
		if g.Name != tc.name || g.Events != tc.events || g.LagSeconds != tc.lag || g.SlotLagBytes != tc.slotLag ||
			g.SnapshotDone != tc.done || g.SnapshotTotal != tc.total || g.Failed != tc.failed || g.Error != tc.err {
			t.Errorf("source %d: %+v, want %+v", tc.i, g, tc)
		}
	}
}

// TestCaptureSource: GET /api/capture/{source} adds this process's part in
// the source's hot standby to the source's figures; a source this process
// does not capture is 404.
func TestCaptureSource(t *testing.T) {
	reg := prometheus.NewRegistry()
	met, err := capture.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	met.SlotLagBytes.WithLabelValues("legacy").Set(4096)
	m := mux{http.NewServeMux(), http.NewServeMux()}
	New(Config{Gatherer: reg, Sources: []Source{{"legacy", "postgres"}, {"shop", "mysql"}},
		Standby: func(source string) standby.State {
			return standby.State{Active: source == "legacy", Instance: "host-1-abc", Holder: "host-1-abc", ConfirmedPosition: "0/16B3748"}
		}}).Mount(m)
	tests := []struct {
		path   string
		code   int
		active bool
	}{
		{"/api/capture/legacy", http.StatusOK, true},
		{"/api/capture/shop", http.StatusOK, false},
		{"/api/capture/nope", http.StatusNotFound, false},
	}
	for _, tc := range tests {
		rec := httptest.NewRecorder()
		m.private.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		if rec.Code != tc.code {
			t.Fatalf("GET %s: %d %s, want %d", tc.path, rec.Code, rec.Body, tc.code)
		}
		if tc.code != http.StatusOK {
			continue
		}
		var raw map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
			t.Fatalf("%v: %s", err, rec.Body)
		}
		// The field names are the contract: active, instance, the
		// confirmed position and the lag.
		for _, k := range []string{"name", "type", "active", "instance", "confirmed_position", "lag_seconds", "slot_lag_bytes"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("GET %s: no %q in %s", tc.path, k, rec.Body)
			}
		}
		var got SourceStatus
		_ = json.Unmarshal(rec.Body.Bytes(), &got)
		if got.Active != tc.active || got.Instance != "host-1-abc" || got.ConfirmedPosition != "0/16B3748" {
			t.Errorf("GET %s: %+v", tc.path, got)
		}
		if got.Name == "legacy" && got.SlotLagBytes != 4096 {
			t.Errorf("GET %s: slot lag %v, want the metric's 4096", tc.path, got.SlotLagBytes)
		}
	}
}

// TestPageIsPublicFiguresAreNot: the page shell and its assets are public
// (they hold no data); every figure is behind the admin token.
func TestPageIsPublicFiguresAreNot(t *testing.T) {
	m := mux{http.NewServeMux(), http.NewServeMux()}
	New(Config{}).Mount(m)
	for _, tc := range []struct {
		path, contains string
		public         bool
	}{
		{"/", "<title>ficus</title>", true},
		{"/ui/app.js", "textContent", true},
		{"/ui/style.css", "font", true},
		{"/api/capture", "", false},
		{"/api/capture/legacy", "", false},
		{"/api/dashboard", "", false},
		{"/api/report", "", false},
		{"/api/recordings", "", false},
	} {
		rec := httptest.NewRecorder()
		m.public.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		if served := rec.Code == http.StatusOK; served != tc.public {
			t.Errorf("GET %s without the token: %d, public %v", tc.path, rec.Code, tc.public)
		}
		if tc.public && !strings.Contains(rec.Body.String(), tc.contains) {
			t.Errorf("GET %s: body lacks %q", tc.path, tc.contains)
		}
	}
}

// TestRecordings: GET /api/recordings passes on the figures of the
// recorded routes (an empty list without any), a failure to read them as
// a 502 with the reason, and the overview says whether there are any.
func TestRecordings(t *testing.T) {
	figs := []recording.RouteRecordings{{Route: "orders", Count: 3, Bytes: 3000, LastReplay: json.RawMessage(`{"passed":true}`)}}
	for _, tc := range []struct {
		name     string
		read     func(context.Context) ([]recording.RouteRecordings, error)
		code     int
		body     string
		overview string
	}{
		{"none", nil, http.StatusOK, "[]", `"recordings":false`},
		{"figures", func(context.Context) ([]recording.RouteRecordings, error) { return figs, nil }, http.StatusOK,
			`[{"route":"orders","count":3,"bytes":3000,"last_replay":{"passed":true}}]`, `"recordings":true`},
		{"failure", func(context.Context) ([]recording.RouteRecordings, error) { return nil, errors.New("nats down") },
			http.StatusBadGateway, `{"error":"read FICUS_TRAFFIC: nats down"}`, `"recordings":true`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mux{http.NewServeMux(), http.NewServeMux()}
			New(Config{Recordings: tc.read}).Mount(m)
			rec := httptest.NewRecorder()
			m.private.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/recordings", nil))
			if rec.Code != tc.code || strings.TrimSpace(rec.Body.String()) != tc.body {
				t.Errorf("GET /api/recordings: %d %s, want %d %s", rec.Code, rec.Body.String(), tc.code, tc.body)
			}
			rec = httptest.NewRecorder()
			m.private.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/dashboard", nil))
			if !strings.Contains(rec.Body.String(), tc.overview) {
				t.Errorf("GET /api/dashboard: %s lacks %s", rec.Body.String(), tc.overview)
			}
		})
	}
}
