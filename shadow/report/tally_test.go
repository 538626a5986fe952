package report

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/shadow/traffic/diff"
	"github.com/ficus-migrate/ficus/shadow/traffic/noise"
	"github.com/ficus-migrate/ficus/shadow/traffic/record"
)

// The report: 185 early comparisons were recorded as mismatches
// before request_id and generated_at were known to be noise. With the
// processes' tallies the report judges them again, as GET
// /api/shadow/{route} does: only the price differences remain.
func TestBuildTalliedJudgesAgain(t *testing.T) {
	since := time.Date(2025, 1, 2, 9, 0, 0, 0, time.UTC)
	started := since.Add(time.Minute)
	val := func(p string) diff.Diff {
		return diff.Diff{Path: p, Kind: diff.KindValue, Legacy: json.RawMessage(`1`), New: json.RawMessage(`2`)}
	}
	var recs []record.Mismatch
	at := started
	for i := range 185 { // before the noise was known: recorded as real
		at = at.Add(time.Millisecond)
		m := record.Mismatch{Time: at, Instance: "a", Started: started, Route: "orders", Path: "/orders/1",
			Diffs: []diff.Diff{val("$.generated_at"), val("$.meta.request_id")}}
		if i == 100 {
			m.Diffs = append(m.Diffs, val("$.items[0].price"))
		}
		m.Signature = diff.Result{Diffs: m.Diffs}.Signature()
		recs = append(recs, m)
	}
	for range 8 { // after: the price alone is real
		at = at.Add(time.Second)
		recs = append(recs, record.Mismatch{Time: at, Instance: "a", Started: started, Route: "orders", Path: "/orders/2",
			Diffs: []diff.Diff{val("$.items[1].price")}, Noise: []diff.Diff{val("$.generated_at"), val("$.meta.request_id")},
			Signature: "$.items[*].price"})
	}
	noisy := []string{"$.generated_at", "$.meta.request_id"}
	priced := []string{"$.generated_at", "$.items[*].price", "$.meta.request_id"}
	tally := func(at time.Time, compared uint64, sigs []noise.SignatureCount, k noise.Known) record.Tally {
		return record.Tally{Time: at, Instance: "a", Started: started, Route: "orders",
			Snapshot: noise.Snapshot{Counts: noise.Counts{Compared: compared, Signatures: sigs}, Noise: k}.Hashed()}
	}
	tallies := []record.Tally{
		tally(started.Add(time.Second), 150, []noise.SignatureCount{{Paths: noisy, Count: 150}}, noise.Known{LegacyPairs: 15, MinSamples: 20}),
		tally(at.Add(time.Second), 600, []noise.SignatureCount{{Paths: noisy, Count: 591}, {Paths: priced, Count: 9}},
			noise.Known{Ready: true, LegacyPairs: 60, MinSamples: 20, Paths: noisy}),
	}
	rep := BuildTallied(recs, tallies, since, at.Add(time.Minute))
	if len(rep.Routes) != 1 {
		t.Fatalf("routes %+v", rep.Routes)
	}
	o := rep.Routes[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"compared", o.Compared, uint64(600)},
		{"mismatched", o.Mismatched, 9},
		{"match rate", o.MatchRate, 1 - 9.0/600},
		{"groups", len(o.Groups), 1},
		{"group", o.Groups[0].Signature, "$.items[*].price"},
		{"group count", o.Groups[0].Count, 9},
		{"example's real diffs", len(o.Groups[0].Example.Diffs), 1},
		{"example's noise", len(o.Groups[0].Example.Noise), 2},
		{"noise", strings.Join(o.NoisePaths, ","), "$.generated_at,$.meta.request_id"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// Without tallies (older ficus versions), the records' own judgement.
	old := Build(recs, since, at.Add(time.Minute)).Routes[0]
	if old.Mismatched != 193 || !slices.ContainsFunc(old.Groups, func(g Group) bool { return g.Signature == "$.generated_at,$.meta.request_id" }) {
		t.Errorf("as recorded: %d mismatched, groups %+v", old.Mismatched, old.Groups)
	}
}

// A route whose every difference is noise by now is reported with its
// comparisons and no mismatch, instead of not at all.
func TestBuildTalliedAllMatched(t *testing.T) {
	since := time.Date(2025, 1, 2, 9, 0, 0, 0, time.UTC)
	before := since.Add(-time.Hour) // running before the window: counted from its first tally in it
	k := noise.Known{Ready: true, LegacyPairs: 40, MinSamples: 20, Paths: []string{"$.id"}}
	tl := func(at time.Time, n uint64) record.Tally {
		return record.Tally{Time: at, Instance: "b", Started: before, Route: "r",
			Snapshot: noise.Snapshot{Counts: noise.Counts{Compared: n, Signatures: []noise.SignatureCount{{Paths: []string{"$.id"}, Count: n}}}, Noise: k}.Hashed()}
	}
	rep := BuildTallied(nil, []record.Tally{tl(since.Add(time.Minute), 1000), tl(since.Add(2*time.Minute), 1300)}, since, since.Add(time.Hour))
	if len(rep.Routes) != 1 || rep.Routes[0].Compared != 300 || rep.Routes[0].Mismatched != 0 || rep.Routes[0].MatchRate != 1 {
		t.Fatalf("report %+v, want route r with 300 compared, none mismatched", rep.Routes)
	}
}
