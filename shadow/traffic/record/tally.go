package record

import (
	"encoding/json"
	"time"

	"github.com/ficus-migrate/ficus/shadow/traffic/noise"
)

// TallyPrefix + route is where every process publishes its tallies of the
// route on FICUS_SHADOW. It is not under SubjectPrefix: readers of the
// mismatch records (ficus.shadow.>), older `ficus report`s included, never
// see a tally.
const TallyPrefix = "ficus.shadowtally."

// TallySubject is the subject a route's tallies are published on.
func TallySubject(route string) string { return TallyPrefix + route }

// Tally is one process's count of a route's comparisons by signature since
// it started, with the noise its detector knew then, paths hashed
// (noise.Snapshot.Hashed). A mismatch record keeps the judgement made when
// it was written; the tallies let `ficus report` judge the window's
// comparisons again with the newest noise knowledge, as GET
// /api/shadow/{route} does.
type Tally struct {
	Time     time.Time `json:"time"`
	Instance string    `json:"instance"`
	Started  time.Time `json:"started"`
	Route    string    `json:"route"`
	noise.Snapshot
}

// Tally queues t for publishing. It never blocks: when the queue is full
// the tally is dropped and counted, the next one carries its counts.
func (r *Recorder) Tally(t Tally) {
	data, err := json.Marshal(t)
	if err != nil {
		r.tallies.failed.Add(1)
		r.log.Warn("cannot encode shadow tally", "route", t.Route, "err", err)
		return
	}
	select {
	case r.queue <- outgoing{subject: TallySubject(t.Route), data: data, tally: true}:
	default:
		r.tallies.dropped.Add(1)
	}
}
