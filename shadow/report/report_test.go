package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/shadow/traffic/record"
)

var update = flag.Bool("update", false, "rewrite testdata/shadow/report.golden")

const testdata = "../../testdata/shadow"

func fixture(t *testing.T) Report {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testdata, "records.json"))
	if err != nil {
		t.Fatal(err)
	}
	var recs []record.Mismatch
	if err := json.Unmarshal(data, &recs); err != nil {
		t.Fatal(err)
	}
	since := time.Date(2025, 1, 2, 9, 30, 0, 0, time.UTC)
	return Build(recs, since, since.Add(time.Hour))
}

func TestBuild(t *testing.T) {
	r := fixture(t)
	if len(r.Routes) != 2 || r.Routes[1].Route != "orders" {
		t.Fatalf("routes %+v", r.Routes)
	}
	o := r.Routes[1]
	checks := []struct {
		name      string
		got, want any
	}{
		// Instance a1 started before the window: 199 - 100 + 1 compared.
		{"orders compared", o.Compared, uint64(100)},
		{"orders match rate", o.MatchRate, 0.97},
		{"first group", o.Groups[0].Signature, "$.items[*].price"},
		{"first group count", o.Groups[0].Count, 2},
		{"first group share", o.Groups[0].Share, 0.02},
		{"example is the first", o.Groups[0].Example.Path, "/orders/1"},
		{"noise", strings.Join(o.NoisePaths, ","), "$.meta.request_id"},
		// Instance b2 started inside the window: its counter is the count.
		{"invoice compared", r.Routes[0].Compared, uint64(10)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestText(t *testing.T) {
	var b bytes.Buffer
	if err := fixture(t).Text(&b); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join(testdata, "report.golden")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if b.String() != string(want) {
		t.Errorf("text report differs from %s:\n%s", golden, b.String())
	}
}

func TestJSONAndHTML(t *testing.T) {
	r := fixture(t)
	var j bytes.Buffer
	if err := r.JSON(&j); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(j.Bytes(), &back); err != nil {
		t.Fatalf("JSON report does not decode: %v", err)
	}
	if len(back.Routes) != 2 || back.Routes[1].Groups[0].Count != 2 {
		t.Errorf("JSON report lost data: %+v", back)
	}
	var h bytes.Buffer
	if err := r.HTML(&h); err != nil {
		t.Fatal(err)
	}
	page := h.String()
	for _, want := range []string{"<svg", "invoice.pdf", "97.00%", "$.items[*].price", "/orders/1"} {
		if !strings.Contains(page, want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
	for _, external := range []string{"<script src", "<link", "http://", "https://"} {
		if strings.Contains(strings.ReplaceAll(page, `xmlns="http://www.w3.org/2000/svg"`, ""), external) {
			t.Errorf("HTML report is not self-contained: has %q", external)
		}
	}
}
