// Package report groups the shadow mismatch records of FICUS_SHADOW by
// signature (the set of differing paths), most frequent first, with counts,
// the share of compared traffic and one example each, and renders them as
// text, JSON or one self-contained HTML page.
package report

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/ficus-migrate/ficus/shadow/traffic/diff"
	"github.com/ficus-migrate/ficus/shadow/traffic/noise"
	"github.com/ficus-migrate/ficus/shadow/traffic/record"
)

// Report is the grouped view of a set of mismatch records.
type Report struct {
	// Title heads the text form ["Shadow mismatches"]; `ficus replay`
	// reports differences from recorded answers.
	Title  string        `json:"-"`
	Since  time.Time     `json:"since"`
	Until  time.Time     `json:"until"`
	Routes []RouteReport `json:"routes"`
	// Data are the data comparisons' findings (compare_data), if any.
	Data []DataReport `json:"data,omitempty"`
}

// RouteReport is one route's part of a Report.
type RouteReport struct {
	Route string `json:"route"`
	// Compared is the number of compared requests in the window, derived
	// from the running counts in the records (see Build); Mismatched the
	// number of records; MatchRate 1 - Mismatched/Compared. With tallies
	// (see BuildTallied) both come from them, judged like GET
	// /api/shadow/{route}.
	Compared   uint64  `json:"compared"`
	Mismatched int     `json:"mismatched"`
	MatchRate  float64 `json:"match_rate"`
	// NoisePaths are the paths seen as noise in the route's records (with
	// tallies: those of the records' paths that are noise by now).
	NoisePaths []string `json:"noise_paths,omitempty"`
	Groups     []Group  `json:"groups"`
}

// Group is all mismatches of one signature.
type Group struct {
	Signature string `json:"signature"`
	Count     int    `json:"count"`
	// Share is Count / the route's Compared: the share of traffic.
	Share   float64         `json:"share"`
	Example record.Mismatch `json:"example"`
}

// Build groups recs (in any order). Compared traffic is taken from the
// records' running counters, per recording process: when the process
// started inside the window its last counter is the whole count; otherwise
// the difference between its last and first counter in the window (plus
// the first record itself) — a lower bound that misses the traffic before
// the window's first mismatch.
func Build(recs []record.Mismatch, since, until time.Time) Report {
	return BuildTallied(recs, nil, since, until)
}

// BuildTallied is Build judged like GET /api/shadow/{route}: for the routes
// with tallies (see record.Tally), Compared and Mismatched come from them,
// every comparison judged with the newest noise knowledge, and records
// whose differences are all known to be noise by now leave the groups.
// Routes without tallies (ficus versions before them) are built as Build
// does.
func BuildTallied(recs []record.Mismatch, tallies []record.Tally, since, until time.Time) Report {
	rep := Report{Since: since, Until: until, Routes: []RouteReport{}}
	byRoute := map[string][]record.Mismatch{}
	for _, m := range recs {
		byRoute[m.Route] = append(byRoute[m.Route], m)
	}
	talliesOf := map[string][]record.Tally{}
	for _, t := range tallies {
		talliesOf[t.Route] = append(talliesOf[t.Route], t)
		if _, ok := byRoute[t.Route]; !ok {
			byRoute[t.Route] = nil
		}
	}
	for route, ms := range byRoute {
		slices.SortStableFunc(ms, func(a, b record.Mismatch) int { return a.Time.Compare(b.Time) })
		var rr RouteReport
		if ts := talliesOf[route]; len(ts) > 0 {
			rr = judged(route, ms, ts, since)
		} else {
			rr = asRecorded(route, ms, since)
		}
		if rr.Compared == 0 && len(ms) == 0 {
			continue
		}
		slices.SortFunc(rr.Groups, func(a, b Group) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Signature, b.Signature))
		})
		rep.Routes = append(rep.Routes, rr)
	}
	slices.SortFunc(rep.Routes, func(a, b RouteReport) int { return strings.Compare(a.Route, b.Route) })
	return rep
}

// asRecorded groups a route's records by the judgement they were written with.
func asRecorded(route string, ms []record.Mismatch, since time.Time) RouteReport {
	rr := RouteReport{Route: route, Mismatched: len(ms), Compared: compared(ms, since)}
	rr.Compared = max(rr.Compared, uint64(len(ms)))
	rr.MatchRate = 1 - float64(rr.Mismatched)/float64(rr.Compared)
	groups := map[string]*Group{}
	noisy := map[string]bool{}
	for _, m := range ms {
		g := groups[m.Signature]
		if g == nil {
			g = &Group{Signature: m.Signature, Example: m}
			groups[m.Signature] = g
		}
		g.Count++
		for _, d := range m.Noise {
			noisy[generalize(d.Path)] = true
		}
	}
	for _, g := range groups {
		g.Share = float64(g.Count) / float64(rr.Compared)
		rr.Groups = append(rr.Groups, *g)
	}
	for p := range noisy {
		rr.NoisePaths = append(rr.NoisePaths, p)
	}
	slices.Sort(rr.NoisePaths)
	return rr
}

// judged builds a route's part from its tallies, and groups its records by
// the differences that are still real by what is known now.
func judged(route string, ms []record.Mismatch, ts []record.Tally, since time.Time) RouteReport {
	j := judgeTallies(ts, since)
	rr := RouteReport{Route: route, Compared: j.Compared, Mismatched: int(j.Mismatched)}
	if rr.Compared > 0 {
		rr.MatchRate = 1 - float64(rr.Mismatched)/float64(rr.Compared)
	}
	isNoise := map[string]bool{} // hashed generalized paths
	for _, h := range j.Noise {
		isNoise[h] = true
	}
	named := map[string]bool{}
	groups := map[string]*Group{}
	n := 0
	for _, m := range ms {
		var still, now []diff.Diff
		for _, d := range append(slices.Clone(m.Diffs), m.Noise...) {
			p := generalize(d.Path)
			if d.Kind != diff.KindTruncated && isNoise[noise.HashPath(p)] {
				now = append(now, d)
				named[p] = true
				continue
			}
			still = append(still, d)
		}
		if len(still) == 0 {
			continue // every difference is known to be noise by now
		}
		n++
		sig := signature(still)
		g := groups[sig]
		if g == nil {
			ex := m
			ex.Diffs, ex.Noise, ex.Signature = still, now, sig
			g = &Group{Signature: sig, Example: ex}
			groups[sig] = g
		}
		g.Count++
	}
	// Records are not the count (Mismatched is) but must not make a share
	// above 1 where the tallies begin after the window's first records.
	total := max(rr.Compared, uint64(n))
	for _, g := range groups {
		g.Share = float64(g.Count) / float64(total)
		rr.Groups = append(rr.Groups, *g)
	}
	for p := range named {
		rr.NoisePaths = append(rr.NoisePaths, p)
	}
	slices.Sort(rr.NoisePaths)
	return rr
}

// judgeTallies sums the window's comparisons of every process — all of them
// for a process started inside the window, else those after its first
// tally in the window (a lower bound) — judged with the noise each last
// knew.
func judgeTallies(ts []record.Tally, since time.Time) noise.Judged {
	type span struct{ first, last record.Tally }
	spans := map[string]*span{}
	for _, t := range ts {
		s := spans[t.Instance]
		if s == nil {
			spans[t.Instance] = &span{first: t, last: t}
			continue
		}
		if t.Time.Before(s.first.Time) {
			s.first = t
		}
		if !t.Time.Before(s.last.Time) {
			s.last = t
		}
	}
	parts := make([]noise.Part, 0, len(spans))
	for _, s := range spans {
		var base noise.Counts
		if s.last.Started.Before(since) {
			base = s.first.Counts
		}
		parts = append(parts, noise.Part{Counts: s.last.Since(base), Known: s.last.Noise})
	}
	return noise.Judge(parts)
}

// signature is the group key of a record's real differences, as
// diff.Result.Signature writes it.
func signature(ds []diff.Diff) string {
	ps := make([]string, len(ds))
	for i, d := range ds {
		ps[i] = generalize(d.Path)
	}
	slices.Sort(ps)
	return strings.Join(slices.Compact(ps), ",")
}

func compared(ms []record.Mismatch, since time.Time) uint64 {
	type span struct {
		started     time.Time
		first, last uint64
	}
	spans := map[string]*span{}
	for _, m := range ms {
		s := spans[m.Instance]
		if s == nil {
			s = &span{started: m.Started, first: m.Counts.Compared}
			spans[m.Instance] = s
		}
		s.first = min(s.first, m.Counts.Compared)
		s.last = max(s.last, m.Counts.Compared)
	}
	var total uint64
	for _, s := range spans {
		if !s.started.Before(since) {
			total += s.last
		} else {
			total += s.last - s.first + 1
		}
	}
	return total
}

// generalize replaces array indexes by [*], as diff.Generalize does; kept
// here so that old records group the same whatever diff's version.
func generalize(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '[' {
			j := i + 1
			for j < len(p) && p[j] >= '0' && p[j] <= '9' {
				j++
			}
			if j > i+1 && j < len(p) && p[j] == ']' {
				b.WriteString("[*]")
				i = j
				continue
			}
		}
		b.WriteByte(p[i])
	}
	return b.String()
}
