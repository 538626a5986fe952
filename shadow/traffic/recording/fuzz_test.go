package recording

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// FuzzReadJSONL: any file is read without a panic; what it accepts writes
// back to exchanges that read the same.
func FuzzReadJSONL(f *testing.F) {
	f.Add(`{"time":"2026-12-01T10:00:00Z","route":"r","method":"GET","path":"/a?b=1","answer":{"status":200,"body":{"text":"x"}}}`)
	f.Add("\n\n{}\n")
	f.Add(`{"request_body":{"base64":"!!"}}`)
	f.Fuzz(func(t *testing.T, in string) {
		xs, err := ReadJSONL(strings.NewReader(in), "", time.Time{}, 0)
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := WriteJSONL(&b, xs); err != nil {
			t.Fatal(err)
		}
		back, err := ReadJSONL(&b, "", time.Time{}, 0)
		if err != nil || len(back) != len(xs) {
			t.Fatalf("round trip: %d exchanges, %v; want %d", len(back), err, len(xs))
		}
		for i := range xs {
			_ = xs[i].RequestBody.Bytes()
		}
	})
}
