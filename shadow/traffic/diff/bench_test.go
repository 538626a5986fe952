package diff

import (
	"fmt"
	"strings"
	"testing"
)

// typicalPair returns a ~1 KiB JSON listing and a copy with one price and
// the volatile fields changed.
func typicalPair() (Answer, Answer) {
	build := func(reqID string, price string) string {
		var b strings.Builder
		fmt.Fprintf(&b, `{"meta":{"request_id":%q,"page":1,"per_page":8},"items":[`, reqID)
		for i := range 8 {
			if i > 0 {
				b.WriteString(",")
			}
			p := "19.99"
			if i == 3 {
				p = price
			}
			fmt.Fprintf(&b, `{"id":%d,"name":"item %d","price":%s,"tags":["a","b"],"updated_at":"2025-01-0%dT00:00:00Z"}`, i, i, p, i+1)
		}
		b.WriteString(`],"total":8}`)
		return b.String()
	}
	return jsonAnswer(build("r-1", "19.99")), jsonAnswer(build("r-2", "21.50"))
}

func BenchmarkCompare(b *testing.B) {
	c, err := Compile(Rules{
		Ignore:    []string{"$.meta.request_id", "$.items[*].updated_at", "header:Date"},
		Headers:   []string{"Content-Type", "Cache-Control"},
		Unordered: []string{"$.items[*].tags"}, NumericTolerance: 1e-6,
	})
	if err != nil {
		b.Fatal(err)
	}
	legacy, cand := typicalPair()
	if r := c.Compare(legacy, cand); r.Signature() != "$.items[*].price" {
		b.Fatalf("unexpected signature %q", r.Signature())
	}
	b.SetBytes(int64(len(legacy.Body) + len(cand.Body)))
	b.ReportAllocs()
	for b.Loop() {
		c.Compare(legacy, cand)
	}
}
