package demo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ficus-migrate/ficus/internal/admin/client"
	"github.com/ficus-migrate/ficus/proxy/rollout"
	rs "github.com/ficus-migrate/ficus/proxy/routestate"
	"github.com/ficus-migrate/ficus/shadow/data/continuous"
	"github.com/ficus-migrate/ficus/shadow/traffic/mirror"
)

// The demo reads everything it shows from ficus's admin API, as an operator's
// script would, through the one admin API client and the types the server
// encodes.

// admin reads ficus's admin API.
type admin struct{ c *client.Client }

func newAdmin(base string) admin {
	return admin{c: client.New(client.Config{BaseURL: base, Timeout: 5 * time.Second})}
}

// rollout is the demo route's shared state (GET /api/rollout).
func (a admin) rollout(ctx context.Context) (rollout.StateView, error) {
	all, err := a.c.Rollout(ctx)
	if err != nil {
		return rollout.StateView{}, err
	}
	for _, r := range all {
		if r.Name == routeName {
			return r, nil
		}
	}
	return rollout.StateView{}, fmt.Errorf("route %s not in GET /api/rollout", routeName)
}

// captured sums ficus_capture_events_total per source from /metrics.
func (a admin) captured(ctx context.Context) (map[string]float64, error) {
	samples, err := a.c.Samples(ctx, "ficus_capture_events_total")
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, s := range samples {
		out[s.Labels["source"]] += s.Value
	}
	return out, nil
}

// snapshot is one second's figures; an err field says why a part is
// missing from the status line.
type snapshot struct {
	rollout    rollout.StateView
	rolloutErr error
	shadow     mirror.Stats
	shadowErr  error
	events     map[string]float64
	eventsErr  error
	data       continuous.Figures
	dataErr    error
}

func (a admin) snapshot(ctx context.Context) snapshot {
	var s snapshot
	s.rollout, s.rolloutErr = a.rollout(ctx)
	s.shadow, s.shadowErr = a.c.Shadow(ctx, routeName)
	s.events, s.eventsErr = a.captured(ctx)
	s.data, s.dataErr = a.c.Data(ctx, compareName)
	return s
}

// describeRollout is "25% rolling 2/4".
func describeRollout(r rollout.StateView) string {
	phase := string(r.Phase)
	if phase == "" {
		phase = "no rollout"
	}
	s := pct(r.Weight) + " " + phase
	if r.Plan != nil && r.Step >= 0 && r.Phase != rs.PhaseRolledBack {
		s += fmt.Sprintf(" %d/%d", r.Step+1, len(r.Plan.Steps))
	}
	if r.Manual {
		s += " (manual)"
	}
	if len(r.Gates) > 0 {
		g := make([]string, len(r.Gates))
		for i, res := range r.Gates {
			g[i] = fmt.Sprintf("%s %s %s", res.Kind, res.Name, res.Verdict)
		}
		s += " [gates: " + strings.Join(g, ", ") + "]"
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
	case errors.Is(s.dataErr, client.ErrNotFound):
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
