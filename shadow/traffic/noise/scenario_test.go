package noise

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"

	"github.com/ficus-migrate/ficus/shadow/traffic/diff"
)

// TestWithRealComparisons drives the Detector with diff.Compare over
// generated JSON answers, the way the mirror does: two legacy answers
// differ by a random request_id and timestamp; the new service also
// changes one price in 5 % of answers.
func TestWithRealComparisons(t *testing.T) {
	c, err := diff.Compile(diff.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	answer := func(priceBump bool) diff.Answer {
		price := "19.99"
		if priceBump {
			price = "20.99"
		}
		body := fmt.Sprintf(`{"meta":{"request_id":"%016x"},"generated_at":"2025-01-01T00:00:%02d.%06dZ",`+
			`"items":[{"id":1,"price":5},{"id":2,"price":%s}]}`, rng.Uint64(), rng.IntN(60), rng.IntN(1e6), price)
		return diff.Answer{Status: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(body)}
	}
	d := New(Config{})
	var lastReal, lastNoise []diff.Diff
	for i := range 400 {
		d.ObserveLegacyPair(c.Compare(answer(false), answer(false)))
		r := c.Compare(answer(false), answer(i%20 == 0))
		d.ObserveCandidate(r)
		if real, noise := d.Split(r); i%20 == 0 && i > 20 {
			lastReal, lastNoise = real, noise
		}
	}
	if got := paths(lastReal); len(got) != 1 || !got["$.items[*].price"] {
		t.Errorf("real = %v, want only the price", got)
	}
	if got := paths(lastNoise); len(got) != 2 || !got["$.meta.request_id"] || !got["$.generated_at"] {
		t.Errorf("noise = %v, want request_id and generated_at", got)
	}
}
