package replay

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// Summary is the short form of a Result: what `ficus replay` prints
// first, publishes for the dashboard and writes in its JSON output.
type Summary struct {
	Route      string   `json:"route"`
	Started    string   `json:"started"`
	Finished   string   `json:"finished"`
	Replayed   int      `json:"replayed"`
	Matched    int      `json:"matched"`
	Mismatched int      `json:"mismatched"`
	Errors     int      `json:"errors"`
	Skipped    int      `json:"skipped"`
	MatchRate  float64  `json:"match_rate"`
	MinMatch   float64  `json:"min_match"`
	Passed     bool     `json:"passed"`
	Signatures []string `json:"signatures,omitempty"`
}

// Summary returns r's summary judged against minMatch; a replay that
// sent nothing does not pass (an empty recording proves nothing).
func (r *Result) Summary(minMatch float64) Summary {
	s := Summary{Route: r.Route, Started: r.Started.Format(timeFormat), Finished: r.Finished.Format(timeFormat),
		Replayed: r.Replayed, Matched: r.Matched, Mismatched: r.Mismatched, Errors: r.Errors, Skipped: r.Skipped,
		MatchRate: r.MatchRate(), MinMatch: minMatch, Passed: r.Replayed > 0 && r.MatchRate() >= minMatch}
	for _, g := range r.Report().Routes[0].Groups {
		s.Signatures = append(s.Signatures, g.Signature)
	}
	return s
}

const timeFormat = "2006-01-02T15:04:05Z07:00"

// Text writes the summary and the grouped report for a terminal.
func (r *Result) Text(w io.Writer, minMatch float64) error {
	s := r.Summary(minMatch)
	verdict := "PASS"
	switch {
	case s.Replayed == 0:
		verdict = "FAIL: nothing replayed"
	case !s.Passed:
		verdict = "FAIL"
	}
	if _, err := fmt.Fprintf(w, "Replay of route %s: %d replayed, %d matched, %d mismatched (%d errors), %d skipped; "+
		"match rate %.2f%% (min %.2f%%): %s\n\n", s.Route, s.Replayed, s.Matched, s.Mismatched, s.Errors, s.Skipped,
		100*s.MatchRate, 100*minMatch, verdict); err != nil {
		return err
	}
	return r.Report().Text(w)
}

// JSON writes the summary and the grouped report as one JSON document.
func (r *Result) JSON(w io.Writer, minMatch float64) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Summary Summary `json:"summary"`
		Report  any     `json:"report"`
	}{r.Summary(minMatch), r.Report()})
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Class   string        `xml:"classname,attr"`
	Name    string        `xml:"name,attr"`
	Failure *junitFailure `xml:"failure,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// JUnit writes JUnit XML, so that CI systems show the replay as tests: one
// test of the match rate against minMatch, one failed test per signature
// of differences (with its count and an example), one passed test for the
// matched requests.
func (r *Result) JUnit(w io.Writer, minMatch float64) error {
	s := r.Summary(minMatch)
	class := "ficus.replay." + r.Route
	rate := junitCase{Class: class, Name: fmt.Sprintf("match rate >= %.4g", minMatch)}
	switch {
	case s.Replayed == 0:
		rate.Failure = &junitFailure{Type: "match_rate", Message: fmt.Sprintf("nothing replayed (%d exchanges skipped)", s.Skipped)}
	case !s.Passed:
		rate.Failure = &junitFailure{Type: "match_rate", Message: fmt.Sprintf("match rate %.4f below %.4g: %d of %d replayed requests differ",
			s.MatchRate, minMatch, s.Mismatched, s.Replayed)}
	}
	cases := []junitCase{rate, {Class: class, Name: fmt.Sprintf("%d requests matched", s.Matched)}}
	for _, g := range r.Report().Routes[0].Groups {
		var b strings.Builder
		ex := g.Example
		fmt.Fprintf(&b, "example: %s %s\n", ex.Method, ex.Path)
		for _, d := range ex.Diffs {
			fmt.Fprintf(&b, "  %s %s: legacy %s, new %s\n", d.Path, d.Kind, orNone(d.Legacy), orNone(d.New))
		}
		cases = append(cases, junitCase{Class: class, Name: "signature " + g.Signature, Failure: &junitFailure{
			Type: "mismatch", Message: fmt.Sprintf("%d requests differ (%.2f%%)", g.Count, 100*g.Share), Text: b.String()}})
	}
	suite := junitSuite{Name: class, Tests: len(cases), Time: fmt.Sprintf("%.3f", r.Finished.Sub(r.Started).Seconds()),
		Timestamp: s.Started, Cases: cases}
	for _, c := range cases {
		if c.Failure != nil {
			suite.Failures++
		}
	}
	doc := junitSuites{Name: "ficus replay", Tests: suite.Tests, Failures: suite.Failures, Suites: []junitSuite{suite}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func orNone(m json.RawMessage) string {
	if len(m) == 0 {
		return "(none)"
	}
	return string(m)
}
