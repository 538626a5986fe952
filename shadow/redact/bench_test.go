package redact

import (
	"fmt"
	"strings"
	"testing"
)

// benchAnswer is a 1 KiB JSON answer like the proxy bench's backend sends
// (cmd/ficusbench/backend.go); with secrets, some of its objects carry a
// token and a PIN.
func benchAnswer(secrets bool) []byte {
	var b strings.Builder
	b.WriteString(`{"id":42,"kind":"order","items":[`)
	for i := 0; b.Len() < 950; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		if secrets && i%8 == 0 {
			fmt.Fprintf(&b, `{"sku":"SKU-%04d","qty":%d,"token":"tok-%06d","pin":%d}`, i, i%7+1, i, 1000+i)
			continue
		}
		fmt.Fprintf(&b, `{"sku":"SKU-%04d","qty":%d}`, i, i%7+1)
	}
	b.WriteString(`],"pad":"`)
	for b.Len() < 1022 {
		b.WriteByte('x')
	}
	b.WriteString(`"}`)
	return []byte(b.String())
}

// BenchmarkBody: the two passes over one recorded JSON answer.
func BenchmarkBody(b *testing.B) {
	r, err := New(Config{Key: []byte("bench-key-0123456789")})
	if err != nil {
		b.Fatal(err)
	}
	for _, secrets := range []bool{false, true} {
		body := benchAnswer(secrets)
		b.Run(fmt.Sprintf("secrets=%v", secrets), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				x := r.Exchange()
				s, _ := x.Body("application/json", body)
				_ = x.FinishBody(s)
			}
		})
	}
}
