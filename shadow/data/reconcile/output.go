package reconcile

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// Text writes the result for people: a headline, one line per difference,
// and what the comparison cost.
func (r *Result) Text(w io.Writer, name string) error {
	st := r.Stats
	verdict := "equal"
	if n := len(r.Differences); n > 0 {
		verdict = fmt.Sprintf("%d difference(s)", n)
	}
	fmt.Fprintf(w, "%s: legacy %d rows, new %d rows: %s\n", name, st.LegacyRows, st.NewRows, verdict)
	for _, d := range r.Differences {
		switch d.Kind {
		case MissingInNew:
			fmt.Fprintf(w, "  key %s: missing in new\n", d.keyText())
		case MissingInLegacy:
			fmt.Fprintf(w, "  key %s: missing in legacy\n", d.keyText())
		default:
			fmt.Fprintf(w, "  key %s: differs:", d.keyText())
			for _, c := range d.Columns {
				fmt.Fprintf(w, " %s→%s legacy %s new %s;", c.Legacy, c.New, quote(c.LegacyVal.Null, c.LegacyVal.Text), quote(c.NewVal.Null, c.NewVal.Text))
			}
			if d.Reason != "" {
				fmt.Fprintf(w, " (%s)", d.Reason)
			}
			fmt.Fprintln(w)
		}
	}
	_, err := fmt.Fprintf(w, "cost: %d range checksums per side, %d rows fetched, database time legacy %s new %s, wall %s\n",
		st.Checksums, st.Fetched, st.LegacyDBTime.Round(time.Millisecond), st.NewDBTime.Round(time.Millisecond), st.Wall.Round(time.Millisecond))
	if err == nil && st.Method != "" {
		_, err = fmt.Fprintf(w, "checksummed by: %s\n", st.Method)
	}
	if err == nil && st.Resumed {
		_, err = fmt.Fprintf(w, "resumed: the earlier run(s) had checksummed %d range(s), not checksummed again\n", st.EarlierChecksums)
	}
	return err
}

func quote(null bool, s string) string {
	if null {
		return "NULL"
	}
	return strconv.Quote(s)
}

// jsonResult is the --format json document.
type jsonResult struct {
	Name        string     `json:"name"`
	Equal       bool       `json:"equal"`
	LegacyRows  int64      `json:"legacy_rows"`
	NewRows     int64      `json:"new_rows"`
	Differences []jsonDiff `json:"differences"`
	Stats       jsonStats  `json:"stats"`
}

type jsonDiff struct {
	Key     any          `json:"key"` // keyJSON
	Kind    string       `json:"kind"`
	Columns []jsonColumn `json:"columns,omitempty"`
	Reason  string       `json:"reason,omitempty"`
}

type jsonColumn struct {
	Legacy    string  `json:"legacy_column"`
	New       string  `json:"new_column"`
	LegacyVal *string `json:"legacy"` // null for SQL NULL
	NewVal    *string `json:"new"`
}

type jsonStats struct {
	Checksums      int64   `json:"checksums"`
	Fetched        int64   `json:"rows_fetched"`
	LegacyDBSecond float64 `json:"legacy_db_seconds"`
	NewDBSecond    float64 `json:"new_db_seconds"`
	WallSeconds    float64 `json:"wall_seconds"`
	// Resumed: the run continued kept progress, whose finished ranges
	// took EarlierChecksums range checksums (Checksums counts this run's).
	Resumed          bool  `json:"resumed"`
	EarlierChecksums int64 `json:"checksums_earlier_runs"`
	// Method: "digest" or "row sums" (see Stats.Method).
	Method      string `json:"method"`
	SampledKeys int64  `json:"sampled_keys"`
}

// JSON writes the result as one JSON document.
func (r *Result) JSON(w io.Writer, name string) error {
	out := jsonResult{Name: name, Equal: len(r.Differences) == 0, LegacyRows: r.Stats.LegacyRows,
		NewRows: r.Stats.NewRows, Differences: []jsonDiff{}}
	for _, d := range r.Differences {
		jd := jsonDiff{Key: d.keyJSON(), Kind: d.Kind, Reason: d.Reason}
		for _, c := range d.Columns {
			jd.Columns = append(jd.Columns, jsonColumn{Legacy: c.Legacy, New: c.New,
				LegacyVal: textPtr(c.LegacyVal.Null, c.LegacyVal.Text), NewVal: textPtr(c.NewVal.Null, c.NewVal.Text)})
		}
		out.Differences = append(out.Differences, jd)
	}
	st := r.Stats
	out.Stats = jsonStats{Checksums: st.Checksums, Fetched: st.Fetched, LegacyDBSecond: st.LegacyDBTime.Seconds(),
		NewDBSecond: st.NewDBTime.Seconds(), WallSeconds: st.Wall.Seconds(), Resumed: st.Resumed, EarlierChecksums: st.EarlierChecksums,
		Method: st.Method, SampledKeys: st.SampledKeys}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// keyJSON is the key in JSON outputs: a number for a single integer key
// column, an array of canonical texts for any other key.
func (d Difference) keyJSON() any {
	if d.Tuple != nil {
		return []string(d.Tuple)
	}
	return d.Key
}

func textPtr(null bool, s string) *string {
	if null {
		return nil
	}
	return &s
}

// Brief describes a difference by its key, its kind and the differing
// column names, never the values: it goes where values must not (route
// state, events, notifications).
func (d Difference) Brief() string {
	switch d.Kind {
	case MissingInNew:
		return fmt.Sprintf("key %s missing in new", d.keyText())
	case MissingInLegacy:
		return fmt.Sprintf("key %s missing in legacy", d.keyText())
	}
	cols := make([]string, len(d.Columns))
	for i, c := range d.Columns {
		cols[i] = c.Legacy + "→" + c.New
	}
	return fmt.Sprintf("key %s differs in %s", d.keyText(), strings.Join(cols, ", "))
}

// jsonlDiff is one line of --output jsonl.
type jsonlDiff struct {
	Key     any                `json:"key"` // keyJSON
	Kind    string             `json:"kind"`
	Legacy  map[string]*string `json:"legacy"` // null: no legacy row
	New     map[string]*string `json:"new"`    // null: no new row
	Columns []jsonColumn       `json:"columns,omitempty"`
	Reason  string             `json:"reason,omitempty"`
}

// JSONL writes every difference as one JSON object per line, in key order:
// the key, the kind, both rows as objects of column name to canonical value
// (legacy's after its rules, under legacy's column names; JSON null for SQL
// NULL; the row itself null when the key is missing on that side), the
// differing column pairs and the comparator plugin's reason. legacyCols and
// newCols are the sides' Table.Columns.
func (r *Result) JSONL(w io.Writer, legacyCols, newCols []string) error {
	enc := json.NewEncoder(w)
	for _, d := range r.Differences {
		line := jsonlDiff{Key: d.keyJSON(), Kind: d.Kind, Reason: d.Reason,
			Legacy: rowObject(legacyCols, d.LegacyRow), New: rowObject(newCols, d.NewRow)}
		for _, c := range d.Columns {
			line.Columns = append(line.Columns, jsonColumn{Legacy: c.Legacy, New: c.New,
				LegacyVal: textPtr(c.LegacyVal.Null, c.LegacyVal.Text), NewVal: textPtr(c.NewVal.Null, c.NewVal.Text)})
		}
		if err := enc.Encode(line); err != nil {
			return err
		}
	}
	return nil
}

func rowObject(cols []string, vals []canon.Value) map[string]*string {
	if vals == nil {
		return nil
	}
	m := make(map[string]*string, len(cols))
	for i, c := range cols {
		if i < len(vals) {
			m[c] = textPtr(vals[i].Null, vals[i].Text)
		}
	}
	return m
}
