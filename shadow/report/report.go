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

	"github.com/ficus-migrate/ficus/shadow/traffic/record"
)

// Report is the grouped view of a set of mismatch records.
type Report struct {
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
	// number of records; MatchRate 1 - Mismatched/Compared.
	Compared   uint64  `json:"compared"`
	Mismatched int     `json:"mismatched"`
	MatchRate  float64 `json:"match_rate"`
	// NoisePaths are the paths seen as noise in the route's records.
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
	rep := Report{Since: since, Until: until, Routes: []RouteReport{}}
	byRoute := map[string][]record.Mismatch{}
	for _, m := range recs {
		byRoute[m.Route] = append(byRoute[m.Route], m)
	}
	for route, ms := range byRoute {
		slices.SortStableFunc(ms, func(a, b record.Mismatch) int { return a.Time.Compare(b.Time) })
		rr := RouteReport{Route: route, Mismatched: len(ms), Compared: compared(ms, since)}
		rr.Compared = max(rr.Compared, uint64(len(ms)))
		rr.MatchRate = 1 - float64(rr.Mismatched)/float64(rr.Compared)
		groups := map[string]*Group{}
		noise := map[string]bool{}
		for _, m := range ms {
			g := groups[m.Signature]
			if g == nil {
				g = &Group{Signature: m.Signature, Example: m}
				groups[m.Signature] = g
			}
			g.Count++
			for _, d := range m.Noise {
				noise[generalize(d.Path)] = true
			}
		}
		for _, g := range groups {
			g.Share = float64(g.Count) / float64(rr.Compared)
			rr.Groups = append(rr.Groups, *g)
		}
		slices.SortFunc(rr.Groups, func(a, b Group) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Signature, b.Signature))
		})
		for p := range noise {
			rr.NoisePaths = append(rr.NoisePaths, p)
		}
		slices.Sort(rr.NoisePaths)
		rep.Routes = append(rep.Routes, rr)
	}
	slices.SortFunc(rep.Routes, func(a, b RouteReport) int { return strings.Compare(a.Route, b.Route) })
	return rep
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
