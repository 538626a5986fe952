package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ficus-migrate/ficus/internal/admin/client"
	"github.com/ficus-migrate/ficus/internal/demo/apps"
	"github.com/ficus-migrate/ficus/proxy/rollout"
	rs "github.com/ficus-migrate/ficus/proxy/routestate"
)

// rolloutEvent is the part of a rollout decision (ficus.rollout.<route>) the
// demo prints.
type rolloutEvent struct {
	Route  string    `json:"route"`
	Action string    `json:"action"`
	From   float64   `json:"from_weight"`
	To     float64   `json:"to_weight"`
	Phase  string    `json:"phase"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// rolloutEvents collects the rollout decisions as ficus publishes them.
type rolloutEvents struct {
	began time.Time
	nc    *nats.Conn

	mu      sync.Mutex
	all     []rolloutEvent
	printed int
}

// start is the time decisions are printed relative to.
func (e *rolloutEvents) start() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.began
}

// setStart sets the time decisions are printed relative to.
func (e *rolloutEvents) setStart(t time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.began = t
}

// subscribe connects to the demo ficus's embedded NATS, with the credentials
// `ficus nats-url` prints for its config file.
func (e *rolloutEvents) subscribe(ctx context.Context, ficus ficusFunc, configPath string) error {
	var out bytes.Buffer
	if err := ficus(ctx, []string{"nats-url", "-c", configPath}, &out, io.Discard); err != nil {
		return err
	}
	nc, err := nats.Connect(strings.TrimSpace(out.String()), nats.Name("ficus-demo"))
	if err != nil {
		return err
	}
	_, err = nc.Subscribe("ficus.rollout."+routeName, func(m *nats.Msg) {
		var ev rolloutEvent
		if json.Unmarshal(m.Data, &ev) != nil {
			return
		}
		e.mu.Lock()
		e.all = append(e.all, ev)
		e.mu.Unlock()
	})
	if err != nil {
		nc.Close()
		return err
	}
	e.nc = nc
	return nil
}

func (e *rolloutEvents) close() {
	if e.nc != nil {
		e.nc.Close()
	}
}

func (e *rolloutEvents) list() []rolloutEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]rolloutEvent(nil), e.all...)
}

// print writes the decisions not printed yet.
func (e *rolloutEvents) print(w io.Writer) {
	e.mu.Lock()
	fresh := e.all[e.printed:]
	e.printed = len(e.all)
	e.mu.Unlock()
	for _, ev := range fresh {
		fmt.Fprintf(w, "  ▸ %s\n", e.describe(ev))
	}
}

func (e *rolloutEvents) describe(ev rolloutEvent) string {
	e.mu.Lock()
	began := e.began
	e.mu.Unlock()
	at := time.Duration(0)
	if !ev.At.IsZero() && ev.At.After(began) {
		at = ev.At.Sub(began)
	}
	s := fmt.Sprintf("%s rollout %s: %s → %s", clock(at), ev.Action, pct(ev.From), pct(ev.To))
	if ev.Reason != "" {
		s += " (" + ev.Reason + ")"
	}
	return s
}

// summaryInput is what the summary needs besides the admin API.
type summaryInput struct {
	elapsed  time.Duration
	config   string
	adminURL string
	nats     string
	ficus    ficusFunc // runs `ficus reconcile`
}

// summary prints how the run ended, read from the admin API (and
// `ficus reconcile`, the command an operator would run).
func summary(ctx context.Context, w io.Writer, admin admin, traffic *apps.Traffic, shop *apps.Shop,
	events *rolloutEvents, in summaryInput) {
	fmt.Fprintf(w, "\n──── Summary after %s of traffic ────\n", clock(in.elapsed))
	st := traffic.Stats()
	fmt.Fprintf(w, "Traffic through ficus: %s.\n", st)
	fmt.Fprintf(w, "  served by legacy %d, by new %d; dual writes the new service missed: %d\n",
		st.ServedLegacy, st.ServedNew, shop.ForwardErrors())

	r, err := admin.rollout(ctx)
	if err != nil {
		fmt.Fprintf(w, "\nRollout of %s: not available (%v)\n", routeName, err)
	} else {
		fmt.Fprintf(w, "\nRollout of %s: stopped at %s.\n", routeName, describeRollout(r))
		fmt.Fprintf(w, "  why: %s\n", why(r))
		if len(r.Gates) > 0 {
			fmt.Fprintf(w, "  rollout.gates as last judged (%s):\n", clock(max(r.GatesAt.Sub(events.start()), 0)))
			for _, g := range r.Gates {
				fmt.Fprintf(w, "    %s\n", g)
			}
		}
	}
	if evs := events.list(); len(evs) > 0 {
		fmt.Fprintln(w, "  decisions:")
		for _, ev := range evs {
			fmt.Fprintf(w, "    %s\n", events.describe(ev))
		}
	}

	if sh, err := admin.c.Shadow(ctx, routeName); err != nil {
		fmt.Fprintf(w, "\nShadow: not available (%v)\n", err)
	} else {
		fmt.Fprintf(w, "\nShadow comparison of GET /api/orders*: %d compared, %d matched (%s), %d mismatched, %d dropped, %d errors.\n",
			sh.Compared, sh.Matched, rate(sh.Matched, sh.Compared), sh.Mismatched, sh.Dropped, sh.Errors)
	}
	signatures(ctx, w, admin, in.elapsed)

	if ev, err := admin.captured(ctx); err != nil {
		fmt.Fprintf(w, "\nChange data capture: not available (%v)\n", err)
	} else {
		fmt.Fprintf(w, "\nChange data capture: %.0f events from the shop's MariaDB, %.0f from the orders service's PostgreSQL\n"+
			"  (JetStream streams FICUS_CDC_SHOP and FICUS_CDC_ORDERS_SVC, subjects ficus.cdc.<source>.<schema>.<table>).\n",
			ev["shop"], ev["orders_svc"])
	}

	fmt.Fprintln(w)
	switch d, err := admin.c.Data(ctx, compareName); {
	case errors.Is(err, client.ErrNotFound):
		fmt.Fprintln(w, "Continuous data comparison: not available in this build of `ficus run` (no GET /api/data/orders).")
	case err != nil:
		fmt.Fprintf(w, "Continuous data comparison: not available (%v)\n", err)
	default:
		fmt.Fprintf(w, "Continuous data comparison %q (shop.orders vs public.orders, findings on ficus.data.%s):\n"+
			"  %d keys seen: %d match, %d differ, %d missing in new, %d missing in legacy, %d pending; new trails legacy by p50 %.2fs, p99 %.2fs.\n",
			compareName, compareName, d.KeysSeen, d.Matched, d.Differing, d.MissingInNew, d.MissingInLegacy, d.Pending, d.LagP50, d.LagP99)
	}
	reconcile(ctx, w, in.ficus, in.config)

	fmt.Fprintf(w, "\nDashboard: %s/  (live while the demo runs: `ficus demo --keep`)\n", in.adminURL)
}

// why says in a sentence why the rollout is where it is.
func why(r rollout.StateView) string {
	if r.Reason != "" {
		return r.Reason
	}
	switch r.Phase {
	case rs.PhaseRolling:
		return "still rolling: the current step's interval or minimum requests were not reached yet"
	case rs.PhaseComplete:
		return "every gate held at every step"
	case rs.PhaseNone:
		return "the rollout has not started (no requests judged yet)"
	}
	return string(r.Phase)
}

// signatures prints the most frequent mismatch signatures (GET /api/report).
func signatures(ctx context.Context, w io.Writer, admin admin, elapsed time.Duration) {
	since := (elapsed + time.Minute).Round(time.Second)
	rep, err := admin.c.Report(ctx, since)
	if err != nil {
		fmt.Fprintf(w, "  mismatch signatures: not available (%v)\n", err)
		return
	}
	for _, rr := range rep.Routes {
		if rr.Route != routeName {
			continue
		}
		if len(rr.Groups) == 0 {
			break
		}
		fmt.Fprintln(w, "  top mismatch signatures (recorded on FICUS_SHADOW; `ficus report` shows them all):")
		for i, g := range rr.Groups {
			if i == 3 {
				break
			}
			ex := g.Example
			fmt.Fprintf(w, "    %4d  %5.1f%%  %s\n", g.Count, 100*g.Share, g.Signature)
			if len(ex.Diffs) > 0 {
				df := ex.Diffs[0]
				fmt.Fprintf(w, "          e.g. %s %s (served by %s): %s legacy %s, new %s\n",
					ex.Method, ex.Path, ex.Served, df.Path, raw(df.Legacy), raw(df.New))
			}
		}
		return
	}
	fmt.Fprintln(w, "  no mismatches recorded.")
}

func raw(b json.RawMessage) string {
	if len(b) == 0 {
		return "(absent)"
	}
	return string(b)
}

// reconcile runs `ficus reconcile orders --format json` against the
// demo's config and prints its findings: the two tables as they are now.
func reconcile(ctx context.Context, w io.Writer, ficus ficusFunc, config string) {
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// Exit status 1 (the tables differ) is a result: the JSON on stdout
	// tells it from a failure, which leaves none.
	if err := ficus(ctx, []string{"reconcile", "-c", config, "--format", "json", compareName}, &out, &errOut); err != nil {
		fmt.Fprintln(&errOut, err)
	}
	var res struct {
		LegacyRows  int64 `json:"legacy_rows"`
		NewRows     int64 `json:"new_rows"`
		Differences []struct {
			Key     int64  `json:"key"`
			Kind    string `json:"kind"`
			Columns []struct {
				Legacy    string  `json:"legacy_column"`
				New       string  `json:"new_column"`
				LegacyVal *string `json:"legacy"`
				NewVal    *string `json:"new"`
			} `json:"columns"`
		} `json:"differences"`
		Stats struct {
			WallSeconds float64 `json:"wall_seconds"`
		} `json:"stats"`
	}
	if json.Unmarshal(out.Bytes(), &res) != nil {
		fmt.Fprintf(w, "`ficus reconcile %s`: not available (%s)\n", compareName, strings.TrimSpace(errOut.String()))
		return
	}
	fmt.Fprintf(w, "`ficus reconcile %s` (both tables as they are now, checksummed in the databases, %.2fs):\n"+
		"  %d rows in shop.orders, %d in public.orders, %d keys differ (legacy values after the rules: amount ×100, status mapped).\n",
		compareName, res.Stats.WallSeconds, res.LegacyRows, res.NewRows, len(res.Differences))
	for i, d := range res.Differences {
		if i == 5 {
			fmt.Fprintf(w, "    … and %d more\n", len(res.Differences)-i)
			break
		}
		var cols []string
		for _, c := range d.Columns {
			cols = append(cols, fmt.Sprintf("%s %s ≠ %s %s", c.Legacy, val(c.LegacyVal), c.New, val(c.NewVal)))
		}
		line := fmt.Sprintf("    order %d: %s", d.Key, strings.ReplaceAll(d.Kind, "_", " "))
		if len(cols) > 0 {
			line += ": " + strings.Join(cols, ", ")
		}
		fmt.Fprintln(w, line)
	}
}

func val(s *string) string {
	if s == nil {
		return "NULL"
	}
	return *s
}
