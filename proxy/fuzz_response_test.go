package proxy

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ficus-migrate/ficus/proxy/upstream"
)

// fuzzStray is an unsolicited response the seeds append to an answer.
const fuzzStray = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nX-Answer: STRAY\r\n\r\nSTRAY:stray!"

var fuzzSeeds = []string{
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" + fuzzStray,
	"HTTP/1.1 204 No Content\r\n\r\n" + fuzzStray,
	"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n" + fuzzStray,
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhello" + "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nSTRAY",
	"HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" + fuzzStray,
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" + fuzzStray,
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + fuzzStray,
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n" + fuzzStray,
	"HTTP/1.1 200 OK\r\nContent-Length: 60\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + fuzzStray,
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello" + fuzzStray,
	"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello" + fuzzStray,
	"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + strings.Repeat(".", 100),
	"HTTP/1.1 200 OK\r\nX-A: 1\r\n continued\r\nContent-Length: 5\r\n\r\nhello" + fuzzStray,
	"not http at all\r\n\r\n",
}

// FuzzFastPathResponse: the backend answers a first request with the fuzz
// input, then a second client's request must get its own answer or a ficus
// error, whatever the input left on ficus's upstream connection. One proxy
// and backend serve all iterations of a worker; each iteration starts with
// an empty upstream pool and uses fresh client connections.
func FuzzFastPathResponse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	legacy := newRawBackend(f, "legacy")
	reg := prometheus.NewRegistry()
	p := runProxy(f, Config{Legacy: legacy.URL(), Registerer: reg,
		// A backstop: the first client leaves after 50 ms anyway.
		Timeouts: upstream.Timeouts{ResponseHeader: 200 * time.Millisecond}})
	addr := p.Addr().String()
	served := func(t *testing.T) float64 {
		v, _ := metricSum(t, reg, "ficus_proxy_request_duration_seconds", map[string]string{"route": "default", "side": "legacy"})
		return v
	}
	// waitServed waits until ficus finished n requests (their handlers
	// returned, so the upstream connection is pooled or closed).
	waitServed := func(t *testing.T, n float64) bool {
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if served(t) >= n {
				return true
			}
		}
		return false
	}
	// Run it with a count (-fuzztime 20000x): with a duration, Go 1.26's
	// coordinator can end a clean run with "context deadline exceeded"
	// (golang/go#75804).
	var iter int
	f.Fuzz(func(t *testing.T, raw []byte) {
		iter++ // iterations of one worker run one at a time
		p.pool.CloseIdleConnections()
		base := served(t)
		pa, pb := fmt.Sprintf("/fz/%d/a", iter), fmt.Sprintf("/fz/%d/b", iter)
		select { // a signal left by an iteration that failed early
		case <-legacy.scripted:
		default:
		}
		legacy.script(pa, raw)
		a := dialRaw(t, addr)
		if err := a.send(fastGet(pa)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-legacy.scripted:
		case <-time.After(2 * time.Second):
			t.Fatal("the backend never received the first request")
		}
		// Whatever the answer is, ficus has all of it: a head or body still
		// incomplete 50 ms later never will be, so A leaves.
		_, _ = a.read("GET", 50*time.Millisecond)
		_ = a.c.Close()
		if !waitServed(t, base+1) {
			t.Fatalf("ficus still serving the first request 2s after its client left (answer %.200q)", raw)
		}
		r, err := dialRaw(t, addr).do(fastGet(pb), "GET")
		if why := ownOrError(r, err, "GET", pb); why != "" {
			t.Fatalf("after the backend answered the previous request with %.300q:\nsecond request: %s", raw, why)
		}
		waitServed(t, base+2)
	})
}
