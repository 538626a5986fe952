package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The demo reads everything it shows from ficus's admin API, as an operator's
// script would; these views hold only the fields it prints, so additions to
// the API do not concern it.

// rolloutView is the part of GET /api/rollout the demo prints.
type rolloutView struct {
	Name    string  `json:"name"`
	Weight  float64 `json:"weight"`
	Step    int     `json:"step"`
	Phase   string  `json:"phase"`
	Manual  bool    `json:"manual"`
	Reason  string  `json:"reason"`
	Rollout *struct {
		Steps []float64 `json:"steps"`
	} `json:"rollout"`
}

type shadowView struct {
	Mirrored   uint64  `json:"mirrored"`
	Compared   uint64  `json:"compared"`
	Matched    uint64  `json:"matched"`
	Mismatched uint64  `json:"mismatched"`
	Dropped    uint64  `json:"dropped"`
	Errors     uint64  `json:"errors"`
	MatchRate  float64 `json:"match_rate"`
}

type dataView struct {
	KeysSeen        int64   `json:"keys_seen"`
	Matched         int64   `json:"matched"`
	Pending         int64   `json:"pending"`
	MissingInNew    int64   `json:"missing_in_new"`
	MissingInLegacy int64   `json:"missing_in_legacy"`
	Differing       int64   `json:"differing"`
	DeletedOneSide  int64   `json:"deleted_on_one_side"`
	Resolved        int64   `json:"resolved"`
	LagP50          float64 `json:"lag_p50_seconds"`
	LagP99          float64 `json:"lag_p99_seconds"`
}

type reportView struct {
	Routes []struct {
		Route      string  `json:"route"`
		Compared   uint64  `json:"compared"`
		Mismatched int     `json:"mismatched"`
		MatchRate  float64 `json:"match_rate"`
		Groups     []struct {
			Signature string  `json:"signature"`
			Count     int     `json:"count"`
			Share     float64 `json:"share"`
			Example   struct {
				Method string `json:"method"`
				Path   string `json:"path"`
				Served string `json:"served"`
				Diffs  []struct {
					Path   string          `json:"path"`
					Kind   string          `json:"kind"`
					Legacy json.RawMessage `json:"legacy"`
					New    json.RawMessage `json:"new"`
				} `json:"diffs"`
			} `json:"example"`
		} `json:"groups"`
	} `json:"routes"`
}

// errNotServed is an admin path this ficus does not serve (404): a part not
// in this build, which the demo reports as not available.
var errNotServed = errors.New("not served by this ficus")

// adminAPI reads ficus's admin API.
type adminAPI struct {
	base   string
	client *http.Client
}

func (a adminAPI) get(ctx context.Context, path string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
		return fmt.Errorf("GET %s: %w", path, errNotServed)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

// rollout is the demo route's shared state (GET /api/rollout).
func (a adminAPI) rollout(ctx context.Context) (rolloutView, error) {
	var all []rolloutView
	if err := a.get(ctx, "/api/rollout", &all); err != nil {
		return rolloutView{}, err
	}
	for _, r := range all {
		if r.Name == routeName {
			return r, nil
		}
	}
	return rolloutView{}, fmt.Errorf("route %s not in GET /api/rollout", routeName)
}

// captured sums ficus_capture_events_total per source from /metrics.
func (a adminAPI) captured(ctx context.Context) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "ficus_capture_events_total{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		out[metricLabel(labels, "source")] += v
	}
	return out, sc.Err()
}

func metricLabel(labels, name string) string {
	_, v, ok := strings.Cut(labels, name+`="`)
	if !ok {
		return ""
	}
	v, _, _ = strings.Cut(v, `"`)
	return v
}

// snapshot is one second's figures; an err field says why a part is
// missing from the status line.
type snapshot struct {
	rollout    rolloutView
	rolloutErr error
	shadow     shadowView
	shadowErr  error
	events     map[string]float64
	eventsErr  error
	data       dataView
	dataErr    error
}

func (a adminAPI) snapshot(ctx context.Context) snapshot {
	var s snapshot
	s.rollout, s.rolloutErr = a.rollout(ctx)
	s.shadowErr = a.get(ctx, "/api/shadow/"+routeName, &s.shadow)
	s.events, s.eventsErr = a.captured(ctx)
	s.dataErr = a.get(ctx, "/api/data/"+compareName, &s.data)
	return s
}

// describeRollout is "25% rolling 2/4".
func describeRollout(r rolloutView) string {
	phase := r.Phase
	if phase == "" {
		phase = "no rollout"
	}
	s := pct(r.Weight) + " " + phase
	if r.Rollout != nil && r.Step >= 0 && r.Phase != "rolled_back" {
		s += fmt.Sprintf(" %d/%d", r.Step+1, len(r.Rollout.Steps))
	}
	if r.Manual {
		s += " (manual)"
	}
	return s
}

func pct(w float64) string { return strconv.FormatFloat(w, 'f', -1, 64) + "%" }

// statusLine is the one line printed every second.
func statusLine(elapsed time.Duration, s snapshot, served [2]int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] weight ", clock(elapsed))
	if s.rolloutErr != nil {
		b.WriteString("?")
	} else {
		b.WriteString(describeRollout(s.rollout))
	}
	fmt.Fprintf(&b, " | served legacy %d, new %d", served[0], served[1])
	if s.shadowErr != nil {
		b.WriteString(" | shadow ?")
	} else {
		fmt.Fprintf(&b, " | shadow match %s of %d", rate(s.shadow.Matched, s.shadow.Compared), s.shadow.Compared)
	}
	if s.eventsErr != nil {
		b.WriteString(" | cdc ?")
	} else {
		fmt.Fprintf(&b, " | cdc events %.0f + %.0f", s.events["shop"], s.events["orders_svc"])
	}
	switch {
	case errors.Is(s.dataErr, errNotServed):
		b.WriteString(" | data n/a")
	case s.dataErr != nil:
		b.WriteString(" | data ?")
	default:
		d := s.data
		fmt.Fprintf(&b, " | data %d match, %d differ, %d missing, %d pending",
			d.Matched, d.Differing, d.MissingInNew+d.MissingInLegacy, d.Pending)
	}
	return b.String()
}

func rate(part, whole uint64) string {
	if whole == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(part)/float64(whole))
}

func clock(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%02d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}
