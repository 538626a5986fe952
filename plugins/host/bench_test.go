package host

import (
	"context"
	"testing"
)

// BenchmarkTransform512 is the plugin round trip of one 512-event batch
// (ficusbench plugins prints the comparison with the in-process no-op).
func BenchmarkTransform512(b *testing.B) {
	p, err := New(Config{Name: "tp", Path: bins["testplugin"]})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	in := events(512)
	for i := range in {
		in[i].Data = make([]byte, 320)
	}
	tr := p.Transformer()
	ctx := context.Background()
	if _, err := tr.Transform(ctx, "src", in); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := tr.Transform(ctx, "src", in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*512), "ns/event")
}
