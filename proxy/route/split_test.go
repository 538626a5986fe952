package route

import (
	"math"
	"net/http/httptest"
	"strconv"
	"testing"
)

const splitN = 10000

// within5Sigma reports whether got new-side hits out of n are consistent
// with weight w%: exact at 0 and 100, else within five binomial standard
// deviations (false-failure odds ~6e-7 per check).
func within5Sigma(t *testing.T, got, n int, w float64) {
	t.Helper()
	p := w / 100
	mean := float64(n) * p
	sigma := math.Sqrt(float64(n) * p * (1 - p))
	if math.Abs(float64(got)-mean) > 5*sigma {
		t.Fatalf("weight %v: %d of %d to new, want %.0f ± %.1f", w, got, n, mean, 5*sigma)
	}
}

func TestRandomSplit(t *testing.T) {
	for _, sticky := range []string{"none", "header:X-User"} { // header missing -> random
		for _, w := range []float64{0, 1, 25, 50, 99.5, 100} {
			t.Run(sticky+"/"+strconv.FormatFloat(w, 'f', -1, 64), func(t *testing.T) {
				tab := mustCompile(t, []Spec{{Name: "r", New: mustURL(t, "http://127.0.0.1:9"), Weight: w, Sticky: sticky}})
				r := httptest.NewRequest("GET", "/", nil)
				got := 0
				for range splitN {
					d := tab.Route(r)
					if d.Key != "" {
						t.Fatalf("unexpected key %q", d.Key)
					}
					if d.Side == New {
						got++
					}
				}
				within5Sigma(t, got, splitN, w)
			})
		}
	}
}

func TestStickySplitMonotone(t *testing.T) {
	u := mustURL(t, "http://127.0.0.1:9")
	weights := []float64{0, 10, 50, 100}
	prev := make([]bool, splitN) // side per key at the previous weight
	for _, w := range weights {
		tab := mustCompile(t, []Spec{{Name: "orders", New: u, Weight: w, Sticky: "header:X-User"}})
		r := httptest.NewRequest("GET", "/", nil)
		got := 0
		for i := range splitN {
			r.Header.Set("X-User", "user-"+strconv.Itoa(i))
			d := tab.Route(r)
			isNew := d.Side == New
			if again := tab.Route(r); again.Side != d.Side {
				t.Fatalf("key %d not sticky at weight %v", i, w)
			}
			if prev[i] && !isNew {
				t.Fatalf("key %d moved new->legacy when weight rose to %v", i, w)
			}
			prev[i] = isNew
			if isNew {
				got++
			}
		}
		within5Sigma(t, got, splitN, w)
	}
}

func TestStickyDependsOnRouteName(t *testing.T) {
	// Different routes must split independently, or every route would send
	// the same unlucky users to new first.
	u := mustURL(t, "http://127.0.0.1:9")
	tab := mustCompile(t, []Spec{
		{Name: "a", PathPrefix: "/a", New: u, Weight: 50, Sticky: "header:X-User"},
		{Name: "b", PathPrefix: "/b", New: u, Weight: 50, Sticky: "header:X-User"},
	})
	ra := httptest.NewRequest("GET", "/a", nil)
	rb := httptest.NewRequest("GET", "/b", nil)
	same := 0
	for i := range splitN {
		k := "k" + strconv.Itoa(i)
		ra.Header.Set("X-User", k)
		rb.Header.Set("X-User", k)
		if tab.Route(ra).Side == tab.Route(rb).Side {
			same++
		}
	}
	within5Sigma(t, same, splitN, 50) // independent: agree half the time
}

func TestPinNew(t *testing.T) {
	u := mustURL(t, "http://127.0.0.1:9")
	for _, sticky := range []string{"header:X-Tenant", "cookie:tenant", "query:tenant"} {
		t.Run(sticky, func(t *testing.T) {
			tab := mustCompile(t, []Spec{{Name: "r", New: u, Weight: 0, Sticky: sticky, PinNew: []string{"tenant-7"}}})
			for _, tc := range []struct {
				key  string
				want Side
			}{{"tenant-7", New}, {"tenant-8", Legacy}} {
				r := httptest.NewRequest("GET", "/?tenant="+tc.key, nil)
				r.Header.Set("X-Tenant", tc.key)
				r.Header.Set("Cookie", "tenant="+tc.key)
				for range 100 {
					if d := tab.Route(r); d.Side != tc.want || d.Key != tc.key {
						t.Fatalf("key %s: side %v key %q, want %v", tc.key, d.Side, d.Key, tc.want)
					}
				}
			}
		})
	}
}
