package noise

import (
	"slices"
	"strings"
	"testing"

	"github.com/ficus-migrate/ficus/shadow/traffic/diff"
)

func TestSignature(t *testing.T) {
	r := diff.Result{Diffs: []diff.Diff{
		{Path: "$.items[3].price", Kind: diff.KindValue},
		{Path: "$.items[0].price", Kind: diff.KindValue},
		{Path: "$.meta.request_id", Kind: diff.KindValue},
		{Path: "$", Kind: diff.KindTruncated},
	}}
	want := []string{"$.items[*].price", "$.meta.request_id", TruncatedPath}
	slices.Sort(want)
	if got := Signature(r); !slices.Equal(got, want) {
		t.Errorf("Signature = %v, want %v", got, want)
	}
	if got := Signature(diff.Result{}); got != nil {
		t.Errorf("Signature of a match = %v, want nil", got)
	}
}

// The Diffy scenario judged twice: while nothing is known, every
// difference counts; once request_id and generated_at are known to be
// noise, the same comparisons count only for their price differences.
func TestTallyJudgedAgain(t *testing.T) {
	tl := NewTally(0, 0)
	noisy := []string{"$.generated_at", "$.meta.request_id"}
	priced := []string{"$.generated_at", "$.items[*].price", "$.meta.request_id"}
	for i := range 600 {
		if i%50 == 0 {
			tl.Add(priced)
		} else {
			tl.Add(noisy)
		}
	}
	for range 100 {
		tl.Add(nil)
	}
	c := tl.Counts()
	if c.Compared != 700 || len(c.Signatures) != 2 || c.Overflow != 0 {
		t.Fatalf("counts = %+v", c)
	}
	known := Known{Ready: true, Paths: []string{"$.generated_at", "$.meta.request_id"}}
	cases := []struct {
		name  string
		parts []Part
		want  Judged
	}{
		{"nothing known yet", []Part{{Counts: c, Known: Known{LegacyPairs: 12, MinSamples: 20}}},
			Judged{Compared: 700, Mismatched: 600, LegacyPairs: 12, MinSamples: 20}},
		{"noise known", []Part{{Counts: c, Known: known}},
			Judged{Compared: 700, Mismatched: 12, Ready: true, Noise: known.Paths}},
		{"known by another process", []Part{{Counts: c, Known: Known{LegacyPairs: 3, MinSamples: 20}}, {Known: known}},
			Judged{Compared: 700, Mismatched: 12, Ready: true, Noise: known.Paths, LegacyPairs: 3, MinSamples: 20}},
		{"hashed on both sides", []Part{{Counts: Snapshot{Counts: c, Noise: known}.Hashed().Counts, Known: Snapshot{Noise: known}.Hashed().Noise}},
			Judged{Compared: 700, Mismatched: 12, Ready: true, Noise: hashPaths(known.Paths)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Judge(tc.parts)
			if got.Compared != tc.want.Compared || got.Mismatched != tc.want.Mismatched || got.Ready != tc.want.Ready ||
				!slices.Equal(got.Noise, tc.want.Noise) || got.LegacyPairs != tc.want.LegacyPairs || got.MinSamples != tc.want.MinSamples {
				t.Errorf("Judge = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// Since keeps what was counted after a base, signature by signature: a
// window judges only its own comparisons.
func TestCountsSince(t *testing.T) {
	tl := NewTally(0, 0)
	for range 10 {
		tl.Add([]string{"$.a"})
	}
	base := tl.Counts()
	for range 5 {
		tl.Add([]string{"$.a"})
		tl.Add([]string{"$.b"})
	}
	tl.Add(nil)
	d := tl.Counts().Since(base)
	if d.Compared != 11 || len(d.Signatures) != 2 || d.Signatures[0].Count != 5 || d.Signatures[1].Count != 5 {
		t.Fatalf("since base: %+v", d)
	}
	if got := d.Mismatched(func(p string) bool { return p == "$.a" }); got != 5 {
		t.Errorf("mismatched with $.a noise = %d, want 5", got)
	}
	if all := tl.Counts().Since(Counts{}); all.Compared != 21 {
		t.Errorf("since zero: %+v", all)
	}
}

// Past its bounds a tally counts new signatures as overflow, which is
// never noise: unknown paths cannot be known to be noise.
func TestTallyBounded(t *testing.T) {
	tl := NewTally(2, 64)
	tl.Add([]string{"$.a"})
	tl.Add([]string{"$.b"})
	tl.Add([]string{"$.c"}) // a third signature
	tl.Add([]string{"$.a"}) // known: still counted
	t2 := NewTally(10, 16)
	t2.Add([]string{strings.Repeat("x", 17)}) // too many bytes
	c := tl.Counts()
	if c.Compared != 4 || c.Overflow != 1 || len(c.Signatures) != 2 || c.Signatures[0].Count != 2 {
		t.Fatalf("counts = %+v", c)
	}
	if got := c.Mismatched(func(string) bool { return true }); got != 1 {
		t.Errorf("everything noise: mismatched = %d, want the 1 overflow", got)
	}
	if c2 := t2.Counts(); c2.Overflow != 1 || len(c2.Signatures) != 0 {
		t.Errorf("long signature: %+v", c2)
	}
}

func TestDetectorKnown(t *testing.T) {
	d := New(Config{MinSamples: 3})
	for range 2 {
		d.ObserveLegacyPair(result("$.meta.request_id"))
		d.ObserveCandidate(result("$.meta.request_id", "$.price"))
	}
	if k := d.Known(); k.Ready || k.LegacyPairs != 2 || k.MinSamples != 3 || k.Paths != nil {
		t.Fatalf("before min samples: %+v", k)
	}
	d.ObserveLegacyPair(result("$.meta.request_id"))
	if k := d.Known(); !k.Ready || !slices.Equal(k.Paths, []string{"$.meta.request_id"}) {
		t.Fatalf("after min samples: %+v", k)
	}
}
