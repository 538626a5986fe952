package replay

import (
	"math"
	"testing"
)

// FuzzParseFlags: the flag parsers never panic, and what they accept is a
// positive figure.
func FuzzParseFlags(f *testing.F) {
	for _, s := range []string{"200/s", "1/m", "2x", "0.5", "Authorization: Bearer ${T}", "${", "a:${}", "NaN", "Inf/s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if v, err := ParseRate(s); err == nil && (!(v > 0) || math.IsInf(v, 0)) {
			t.Fatalf("ParseRate(%q) = %v", s, v)
		}
		if v, err := ParseSpeed(s); err == nil && (!(v > 0) || math.IsInf(v, 0)) {
			t.Fatalf("ParseSpeed(%q) = %v", s, v)
		}
		_, _ = ParseHeaders([]string{s}, func(string) (string, bool) { return "v", true })
	})
}
