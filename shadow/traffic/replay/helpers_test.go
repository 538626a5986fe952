package replay

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/proxy"
	"github.com/ficus-migrate/ficus/proxy/route"
	"github.com/ficus-migrate/ficus/shadow/traffic/mirror"
	"github.com/ficus-migrate/ficus/shadow/traffic/recording"
)

var testKey = []byte("replay-test-key-0123456789")

func serve(t *testing.T, h http.HandlerFunc) *url.URL {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return u
}

// recorder is a real proxy (route "r", all on legacy, sticky by X-User)
// recording every GET and POST to a real JetStream.
type recorder struct {
	base string
	js   jetstream.JetStream
	rec  *recording.Recorder
}

func startRecorder(t *testing.T, legacy *url.URL) *recorder {
	t.Helper()
	ns := testenv.MustStartNATS(t)
	nc, err := nats.Connect(ns.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithCancel(context.Background())
	quiet := slog.New(slog.DiscardHandler)
	newURL, _ := url.Parse("http://127.0.0.1:1") // weight 0: never asked
	rec, err := recording.New(ctx, recording.Config{Conn: nc, RedactKey: testKey, Logger: quiet, Routes: []recording.Route{{
		Name: "r", Paths: mirror.Paths{Legacy: legacy, New: newURL}, Sample: 1, Methods: []string{"GET", "POST"},
		StickyKind: "header", StickyName: "X-User",
	}}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := proxy.New(proxy.Config{Listen: "127.0.0.1:0", Legacy: legacy, Hook: rec, Logger: quiet,
		Routes: []route.Spec{{Name: "r", PathPrefix: "/", New: newURL, Sticky: "header:X-User"}}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = p.Run(ctx) }()
	go func() { defer wg.Done(); _ = rec.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	<-p.Ready()
	js, _ := jetstream.New(nc)
	return &recorder{base: "http://" + p.Addr().String(), js: js, rec: rec}
}

func (r *recorder) do(t *testing.T, method, path, body string, hdr http.Header) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, r.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// read waits until n exchanges are on the stream and returns them.
func (r *recorder) read(t *testing.T, n int) []recording.Exchange {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		xs, err := recording.Read(ctx, r.js, "r", time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(xs) >= n {
			return xs
		}
		if ctx.Err() != nil {
			t.Fatalf("%d of %d exchanges recorded (%+v)", len(xs), n, r.rec.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
