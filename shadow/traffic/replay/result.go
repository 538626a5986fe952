package replay

import (
	"encoding/json"
	"time"

	"github.com/ficus-migrate/ficus/shadow/report"
	"github.com/ficus-migrate/ficus/shadow/traffic/diff"
	"github.com/ficus-migrate/ficus/shadow/traffic/record"
	"github.com/ficus-migrate/ficus/shadow/traffic/recording"
)

// Outcome is what became of one recorded exchange.
type Outcome struct {
	Exchange recording.Exchange
	// Skipped says why the exchange was not sent (empty when it was).
	Skipped string
	// Err is why the request failed (its query cut: see redact.Error).
	Err string
	// New is the replayed answer, redacted, when it differed from the
	// recorded one (empty otherwise); Diffs the real differences from the
	// recorded answer, Noise those known to be noise.
	New          record.Answer
	Diffs, Noise []diff.Diff
	result       diff.Result
}

// Matched reports whether the exchange was sent and its answer matched.
func (o Outcome) Matched() bool { return o.Skipped == "" && o.Err == "" && len(o.Diffs) == 0 }

// Result is a replay's outcome.
type Result struct {
	Route             string
	Started, Finished time.Time
	// Replayed counts the exchanges sent (Errors of them failed), Skipped
	// those not sent (unsafe methods without writes allowed); Matched and
	// Mismatched split Replayed, a failed request counting as mismatched.
	Replayed, Skipped, Errors, Matched, Mismatched int
	// Noise are the generalized paths the replay learnt as noise.
	Noise    []string
	Outcomes []Outcome
}

// ErrorPath is the signature of replayed requests that got no answer.
const ErrorPath = "error"

func newResult(route string, outs []Outcome, noise []string, started, finished time.Time) *Result {
	res := &Result{Route: route, Started: started, Finished: finished, Noise: noise, Outcomes: outs}
	for i := range outs {
		o := &outs[i]
		switch {
		case o.Skipped != "":
			res.Skipped++
			continue
		case o.Err != "":
			res.Errors++
			o.Diffs = []diff.Diff{{Path: ErrorPath, Kind: diff.KindValue, New: mustJSON(o.Err)}}
		}
		res.Replayed++
		if len(o.Diffs) == 0 {
			res.Matched++
		} else {
			res.Mismatched++
		}
	}
	return res
}

func mustJSON(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// MatchRate is Matched / Replayed (1 when nothing was replayed).
func (r *Result) MatchRate() float64 {
	if r.Replayed == 0 {
		return 1
	}
	return float64(r.Matched) / float64(r.Replayed)
}

// Mismatches are the mismatched outcomes as shadow mismatch records, the
// form `ficus report` groups.
func (r *Result) Mismatches() []record.Mismatch {
	var out []record.Mismatch
	counts := record.Counts{Compared: uint64(r.Replayed), Matched: uint64(r.Matched), Mismatched: uint64(r.Mismatched)}
	for _, o := range r.Outcomes {
		if o.Skipped != "" || len(o.Diffs) == 0 {
			continue
		}
		x := o.Exchange
		out = append(out, record.Mismatch{
			Time: x.Time, Instance: "replay", Started: r.Started, Route: r.Route, Method: x.Method, Path: x.Path,
			Served: x.Served, RequestHeader: x.RequestHeader, RequestBody: x.RequestBody.Text,
			Legacy: shownRecorded(x.Answer), New: o.New, Diffs: o.Diffs, Noise: o.Noise,
			Signature: diff.Result{Diffs: o.Diffs}.Signature(), Counts: counts, Redaction: record.Hashed,
		})
	}
	return out
}

// Report is the result in `ficus report`'s grouping: signatures, counts,
// shares of the replayed requests and one example each.
func (r *Result) Report() report.Report {
	rep := report.Build(r.Mismatches(), r.Started, r.Finished)
	rr := report.RouteReport{Route: r.Route, Compared: uint64(r.Replayed), Mismatched: r.Mismatched,
		MatchRate: r.MatchRate(), Groups: []report.Group{}}
	if len(rep.Routes) == 1 {
		rr.Groups = rep.Routes[0].Groups
		for i := range rr.Groups {
			rr.Groups[i].Share = float64(rr.Groups[i].Count) / float64(max(r.Replayed, 1))
		}
	}
	rr.NoisePaths = r.Noise
	rep.Routes = []report.RouteReport{rr}
	rep.Title = "Replayed answers differing from the recorded legacy answers"
	return rep
}
