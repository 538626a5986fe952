package report

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ficus-migrate/ficus/shadow/data/continuous"
)

// DataReport is one data comparison's part of a Report: the findings of
// FICUS_DATA in the window and which of them are still open (their key's
// last finding is not a resolution).
type DataReport struct {
	Name     string         `json:"name"`
	Findings int            `json:"findings"`
	ByKind   map[string]int `json:"by_kind"`
	Open     int            `json:"open"`
	Resolved int            `json:"resolved"`
	// Examples are the open findings, by key, at most MaxDataExamples.
	Examples []continuous.Finding `json:"examples"`
}

// MaxDataExamples bounds the open findings listed per comparison.
const MaxDataExamples = 50

// BuildData groups findings (in publication order) per comparison.
func BuildData(findings []continuous.Finding) []DataReport {
	type acc struct {
		rep  DataReport
		last map[continuous.Key]continuous.Finding
	}
	byName := map[string]*acc{}
	for _, f := range findings {
		a := byName[f.Name]
		if a == nil {
			a = &acc{rep: DataReport{Name: f.Name, ByKind: map[string]int{}, Examples: []continuous.Finding{}}, last: map[continuous.Key]continuous.Finding{}}
			byName[f.Name] = a
		}
		a.rep.Findings++
		a.rep.ByKind[f.Kind]++
		a.last[f.Key] = f
	}
	var out []DataReport
	for _, a := range byName {
		for _, f := range a.last {
			if f.Kind == continuous.KindResolved {
				a.rep.Resolved++
				continue
			}
			a.rep.Open++
			a.rep.Examples = append(a.rep.Examples, f)
		}
		slices.SortFunc(a.rep.Examples, func(x, y continuous.Finding) int { return continuous.CompareKeys(x.Key, y.Key) })
		if len(a.rep.Examples) > MaxDataExamples {
			a.rep.Examples = a.rep.Examples[:MaxDataExamples]
		}
		out = append(out, a.rep)
	}
	slices.SortFunc(out, func(x, y DataReport) int { return strings.Compare(x.Name, y.Name) })
	return out
}

// describeFinding is one line of a finding for text and HTML.
func describeFinding(f continuous.Finding) string {
	s := fmt.Sprintf("key %s: %s", f.Key, strings.ReplaceAll(f.Kind, "_", " "))
	if f.DeletedIn != "" {
		s += " (deleted in " + f.DeletedIn + ")"
	}
	for _, c := range f.Columns {
		s += fmt.Sprintf("; %s→%s legacy %s new %s", c.Legacy, c.New, nullable(c.LegacyValue), nullable(c.NewValue))
	}
	return s
}

func nullable(s *string) string {
	if s == nil {
		return "NULL"
	}
	return fmt.Sprintf("%q", *s)
}
