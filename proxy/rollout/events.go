package rollout

import (
	"encoding/json"
	"log/slog"
	"time"

	rs "github.com/ficus-migrate/ficus/proxy/routestate"
)

// SubjectPrefix + route is where every decision is published.
const SubjectPrefix = "ficus.rollout."

// Event is one decision on a route, by the controller or an operator.
type Event struct {
	Route  string  `json:"route"`
	Action string  `json:"action"`
	From   float64 `json:"from_weight"`
	To     float64 `json:"to_weight"`
	// Step is the 0-based index of the step now in force; -1 before the first.
	Step   int      `json:"step"`
	Phase  rs.Phase `json:"phase"`
	Manual bool     `json:"manual"`
	Reason string   `json:"reason"`
	// Figures are what the controller judged (nil for operator actions).
	Figures *Figures  `json:"figures,omitempty"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
}

// Publisher sends an event; *nats.Conn is one.
type Publisher interface {
	Publish(subject string, data []byte) error
}

// Notifier hands a decision to the route's webhooks (rollout.notify);
// body is the event as published. It must not block. Only the process that
// made a decision emits it, so each is notified once across a fleet.
type Notifier interface {
	Notify(ev Event, body []byte)
}

// emit publishes, logs and notifies one event. A failed publish is logged,
// never fatal: the bucket already holds the decision. n may be nil.
func emit(pub Publisher, n Notifier, log *slog.Logger, ev Event) {
	attrs := []any{"route", ev.Route, "action", ev.Action, "from", ev.From, "to", ev.To,
		"step", ev.Step, "phase", ev.Phase, "reason", ev.Reason}
	if f := ev.Figures; f != nil {
		attrs = append(attrs, "new_requests", f.NewRequests, "legacy_requests", f.LegacyRequests,
			"mismatch_rate", f.MismatchRate, "noise_ready", f.NoiseReady, "error_rate_delta", f.ErrorRateDelta, "p99_ratio", f.P99Ratio)
		for _, g := range f.Gates {
			attrs = append(attrs, "gate."+g.Name, g.String())
		}
	}
	log.Info("rollout decision", attrs...)
	b, err := json.Marshal(ev)
	if err == nil {
		if n != nil {
			n.Notify(ev, b)
		}
		err = pub.Publish(SubjectPrefix+ev.Route, b)
	}
	if err != nil {
		log.Warn("cannot publish rollout event", "route", ev.Route, "err", err)
	}
}
