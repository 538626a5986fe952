package rollout

import (
	"strings"
	"testing"
)

// A failing gate acts, a holding one makes the step wait with its reason,
// a dry_run gate never changes the verdict, and a breach of the built-in
// gates is not hidden by the gates.
func TestJudgeGates(t *testing.T) {
	pass := GateResult{Name: "p", Kind: "prometheus", Verdict: GatePass, Value: 0.1, Threshold: "max 0.5"}
	hold := GateResult{Name: "h", Kind: "prometheus", Verdict: GateHold, Reason: "the query returned no sample"}
	failing := GateResult{Name: "w", Kind: "webhook", Verdict: GateFail, Value: 500, Threshold: "2xx", Reason: "answered 500: broke"}
	dry := failing
	dry.DryRun = true
	for _, c := range []struct {
		name   string
		v      verdict
		res    []GateResult
		want   verdict
		reason string
	}{
		{"all pass", promote, []GateResult{pass}, promote, "built-in"},
		{"hold", promote, []GateResult{pass, hold}, wait, "gate h (prometheus): hold, value 0, threshold : the query returned no sample"},
		{"fail beats hold", promote, []GateResult{hold, failing}, fail, "gate w (webhook): fail, value 500, threshold 2xx: answered 500: broke"},
		{"fail while waiting", wait, []GateResult{failing}, fail, "answered 500: broke"},
		{"dry run", promote, []GateResult{dry, pass}, promote, "built-in"},
		{"built-in breach", fail, []GateResult{pass}, fail, "built-in"},
	} {
		v, reason := judgeGates(c.v, "built-in", c.res)
		if v != c.want || !strings.Contains(reason, c.reason) {
			t.Errorf("%s: %v %q, want %v with %q", c.name, v, reason, c.want, c.reason)
		}
	}
}

// What the gates say is compared without its figures.
func TestWithoutNumbers(t *testing.T) {
	for in, want := range map[string]string{
		"":                             "",
		"the query returned no sample": "the query returned no sample",
		"2s of the step passed; 54 settled keys, rate 0.0123.": "#s of the step passed; # settled keys, rate #",
		"http://10.0.0.1:9090 answered 503":                    "http://#:# answered #",
	} {
		if got := withoutNumbers(in); got != want {
			t.Errorf("withoutNumbers(%q) = %q, want %q", in, got, want)
		}
	}
}
