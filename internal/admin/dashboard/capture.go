package dashboard

import (
	"net/http"
	"strconv"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/ficus-migrate/ficus/capture/backfill"
	"github.com/ficus-migrate/ficus/capture/standby"
)

// SourceFigures is one capture source as GET /api/capture shows it, read
// from the capture metrics so the page and Prometheus never disagree.
type SourceFigures struct {
	Source
	// Events is the number of events published since start.
	Events float64 `json:"events"`
	// LagSeconds: how far behind the database the last event read is;
	// SlotLagBytes: WAL not yet confirmed (PostgreSQL).
	LagSeconds   float64 `json:"lag_seconds"`
	SlotLagBytes float64 `json:"slot_lag_bytes"`
	// LastEvent is the commit time of the last published event.
	LastEvent time.Time `json:"last_event,omitzero"`
	// SnapshotDone and SnapshotTotal are rows read and estimated.
	SnapshotDone  float64 `json:"snapshot_rows_done"`
	SnapshotTotal float64 `json:"snapshot_rows_total"`
	// Failed is set when the source stopped on an error that retrying
	// cannot fix (a publish NATS refuses for good, a missing table...);
	// Error says which, naming the table when there is one.
	Failed bool   `json:"failed"`
	Error  string `json:"error,omitempty"`
}

// SourceStatus is GET /api/capture/{source}: the source's figures and this
// process's part in its hot standby (active is true on the one process
// streaming it).
type SourceStatus struct {
	SourceFigures
	standby.State
	// Backfill is the source's backfill queue and progress (see
	// capture/backfill); absent for a source without backfill.
	Backfill *backfill.Status `json:"backfill,omitempty"`
}

func (d *Dashboard) capture(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, d.figures())
}

func (d *Dashboard) captureSource(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("source")
	for _, f := range d.figures() {
		if f.Name != name {
			continue
		}
		st := SourceStatus{SourceFigures: f, Backfill: d.backfillStatus(r.Context(), name)}
		if d.cfg.Standby != nil {
			st.State = d.cfg.Standby(name)
		}
		writeJSON(w, http.StatusOK, st)
		return
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "no capture source " + strconv.Quote(name) + " in this process"})
}

func (d *Dashboard) figures() []SourceFigures {
	out := make([]SourceFigures, len(d.cfg.Sources))
	idx := make(map[string]int, len(out))
	for i, s := range d.cfg.Sources {
		out[i].Source = s
		idx[s.Name] = i
		if d.cfg.Failure != nil {
			if err := d.cfg.Failure(s.Name); err != nil {
				out[i].Failed, out[i].Error = true, err.Error()
			}
		}
	}
	if d.cfg.Gatherer != nil {
		mfs, err := d.cfg.Gatherer.Gather()
		if err != nil {
			d.log.Warn("gather capture metrics", "err", err) // partial figures are still worth showing
		}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				i, ok := idx[label(m, "source")]
				if !ok {
					continue
				}
				add(&out[i], mf.GetName(), m)
			}
		}
	}
	return out
}

func add(f *SourceFigures, name string, m *dto.Metric) {
	switch name {
	case "ficus_capture_events_total":
		f.Events += m.GetCounter().GetValue()
	case "ficus_capture_lag_seconds":
		f.LagSeconds = m.GetGauge().GetValue()
	case "ficus_capture_slot_lag_bytes":
		f.SlotLagBytes = m.GetGauge().GetValue()
	case "ficus_capture_last_event_timestamp_seconds":
		if v := m.GetGauge().GetValue(); v > 0 {
			f.LastEvent = time.Unix(0, int64(v*1e9)).UTC()
		}
	case "ficus_capture_snapshot_rows_done":
		f.SnapshotDone += m.GetGauge().GetValue()
	case "ficus_capture_snapshot_rows_total":
		f.SnapshotTotal += m.GetGauge().GetValue()
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
