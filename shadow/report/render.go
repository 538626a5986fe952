package report

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ficus-migrate/ficus/shadow/traffic/diff"
)

// Text writes the report for a terminal.
func (r Report) Text(w io.Writer) error {
	var b strings.Builder
	title := "Shadow mismatches"
	if r.Title != "" {
		title = r.Title
	}
	fmt.Fprintf(&b, "%s from %s to %s\n", title, r.Since.UTC().Format(time.RFC3339), r.Until.UTC().Format(time.RFC3339))
	if len(r.Routes) == 0 {
		b.WriteString("\nNo mismatches recorded.\n")
	}
	for _, rr := range r.Routes {
		fmt.Fprintf(&b, "\nroute %s: %d mismatched of %d compared, match rate %.2f%%\n",
			rr.Route, rr.Mismatched, rr.Compared, 100*rr.MatchRate)
		if len(rr.NoisePaths) > 0 {
			fmt.Fprintf(&b, "  noise (not counted): %s\n", strings.Join(rr.NoisePaths, ", "))
		}
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  COUNT\tSHARE\tSIGNATURE\tEXAMPLE")
		for _, g := range rr.Groups {
			ex := g.Example
			fmt.Fprintf(tw, "  %d\t%.2f%%\t%s\t%s %s (%s)\n", g.Count, 100*g.Share, g.Signature, ex.Method, ex.Path, ex.Time.UTC().Format(time.RFC3339))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, g := range rr.Groups {
			fmt.Fprintf(&b, "  example of %s:\n", g.Signature)
			for _, d := range g.Example.Diffs {
				fmt.Fprintf(&b, "    %s %s: legacy %s, new %s\n", d.Path, d.Kind, show(d.Legacy), show(d.New))
			}
		}
	}
	if len(r.Data) > 0 {
		fmt.Fprintf(&b, "\nData comparisons (findings on FICUS_DATA)\n")
	}
	for _, d := range r.Data {
		fmt.Fprintf(&b, "\ncomparison %s: %d findings, %d open, %d resolved\n", d.Name, d.Findings, d.Open, d.Resolved)
		for _, k := range sortedKinds(d.ByKind) {
			fmt.Fprintf(&b, "  %-20s %d\n", k, d.ByKind[k])
		}
		for _, f := range d.Examples {
			fmt.Fprintf(&b, "  %s\n", describeFinding(f))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func sortedKinds(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func show(m json.RawMessage) string {
	if len(m) == 0 {
		return "(none)"
	}
	return string(m)
}

// JSON writes the report as one indented JSON document.
func (r Report) JSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// HTML writes the report as one self-contained page (no external assets)
// with an inline SVG bar chart of the match rate per route.
func (r Report) HTML(w io.Writer) error {
	return page.Execute(w, r)
}

// Bar is one route's bar of the chart.
type Bar struct {
	Route            string
	Y, Width, TextY  int
	Rate             float64
	LabelX, ChartEnd int
}

const barWidth = 400

// Bars lays out the match-rate chart of the HTML page.
func (r Report) Bars() []Bar {
	out := make([]Bar, len(r.Routes))
	for i, rr := range r.Routes {
		out[i] = Bar{Route: rr.Route, Y: 10 + 30*i, TextY: 27 + 30*i, Rate: 100 * rr.MatchRate,
			Width: int(rr.MatchRate * barWidth), LabelX: 150 + barWidth + 8}
	}
	return out
}

// ChartHeight is the SVG height for the bars.
func (r Report) ChartHeight() int { return 20 + 30*len(r.Routes) }

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"pct":     func(f float64) string { return fmt.Sprintf("%.2f%%", 100*f) },
	"rate":    func(f float64) string { return fmt.Sprintf("%.2f%%", f) },
	"ts":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"raw":     show,
	"diffs":   func(ds []diff.Diff) []diff.Diff { return ds },
	"kinds":   sortedKinds,
	"finding": describeFinding,
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ficus shadow report</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}code{font-size:.9em}.noise{color:#777}
</style></head><body>
<h1>ficus shadow report</h1>
<p>Mismatches recorded from {{ts .Since}} to {{ts .Until}}.</p>
{{if not .Routes}}<p>No mismatches recorded.</p>{{else}}
<h2>Match rate per route</h2>
<svg xmlns="http://www.w3.org/2000/svg" width="620" height="{{.ChartHeight}}" role="img" aria-label="match rate per route">
{{range .Bars}}<text x="0" y="{{.TextY}}" font-size="13">{{.Route}}</text>
<rect x="150" y="{{.Y}}" width="400" height="22" fill="#eee"/><rect x="150" y="{{.Y}}" width="{{.Width}}" height="22" fill="#3a7"/>
<text x="{{.LabelX}}" y="{{.TextY}}" font-size="13">{{rate .Rate}}</text>
{{end}}</svg>
{{range .Routes}}
<h2>Route {{.Route}}</h2>
<p>{{.Mismatched}} mismatched of {{.Compared}} compared; match rate {{pct .MatchRate}}.</p>
{{if .NoisePaths}}<p class="noise">Noise (not counted): {{range $i, $p := .NoisePaths}}{{if $i}}, {{end}}<code>{{$p}}</code>{{end}}</p>{{end}}
<table><tr><th>Count</th><th>Share</th><th>Signature</th><th>Example</th></tr>
{{range .Groups}}<tr><td>{{.Count}}</td><td>{{pct .Share}}</td><td><code>{{.Signature}}</code></td>
<td>{{.Example.Method}} <code>{{.Example.Path}}</code> at {{ts .Example.Time}}<br>
{{range diffs .Example.Diffs}}<code>{{.Path}}</code> {{.Kind}}: legacy <code>{{raw .Legacy}}</code>, new <code>{{raw .New}}</code><br>{{end}}</td></tr>
{{end}}</table>
{{end}}{{end}}
{{- if .Data}}
<h1>Data comparisons</h1>
{{range .Data}}<h2>Comparison {{.Name}}</h2>
<p>{{.Findings}} findings on FICUS_DATA; {{.Open}} open, {{.Resolved}} resolved.</p>
<table><tr><th>Kind</th><th>Findings</th></tr>
{{$d := .}}{{range kinds .ByKind}}<tr><td>{{.}}</td><td>{{index $d.ByKind .}}</td></tr>
{{end}}</table>
{{if .Examples}}<h3>Open findings</h3><ul>
{{range .Examples}}<li><code>{{finding .}}</code></li>
{{end}}</ul>{{end}}
{{end}}{{end}}
</body></html>
`))
