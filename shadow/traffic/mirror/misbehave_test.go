package mirror

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ficus-migrate/ficus/shadow/traffic/diff"
)

// rawSide is a shadow side written by hand on a TCP listener, to break
// HTTP framing on purpose. Its proper answers identify their request: body
// and X-Path header are the request's path. The first segment of the path
// says how it misbehaves (see rawAnswer); "/hold" waits for release.
type rawSide struct {
	ln      net.Listener
	release func()
	held    chan struct{}

	mu         sync.Mutex
	conns      []net.Conn // every connection accepted
	requests   int
	alone      int // requests that came with Connection: close
	pipelined  int // requests that arrived behind another on their connection
	headsPiped int // the HEAD requests among them
}

func newRawSide(t *testing.T) *rawSide {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawSide{ln: ln, held: make(chan struct{})}
	var once sync.Once
	s.release = func() { once.Do(func() { close(s.held) }) }
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			go s.serve(c)
		}
	}()
	t.Cleanup(func() {
		s.release()
		ln.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.conns {
			c.Close()
		}
	})
	return s
}

func (s *rawSide) url() *url.URL { return &url.URL{Scheme: "http", Host: s.ln.Addr().String()} }

func (s *rawSide) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		behind := br.Buffered() > 0 // sent before the answer to the one before
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		s.mu.Lock()
		s.requests++
		if req.Close {
			s.alone++
		}
		if behind {
			s.pipelined++
			if req.Method == http.MethodHead {
				s.headsPiped++
			}
		}
		s.mu.Unlock()
		if req.URL.Path == "/hold" {
			<-s.held
		}
		for _, w := range rawAnswer(req) {
			time.Sleep(w.after)
			if _, err := io.WriteString(c, w.data); err != nil {
				return
			}
		}
		if req.Close {
			return
		}
	}
}

func (s *rawSide) counts() (requests, conns, alone, pipelined, headsPiped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, len(s.conns), s.alone, s.pipelined, s.headsPiped
}

// rawWrite is one write of a raw answer, after a pause.
type rawWrite struct {
	after time.Duration
	data  string
}

// unsolicited is what the side sends out of turn when it sends an answer:
// the worst case, as read as the next request's answer it would look like
// one.
const unsolicited = "HTTP/1.1 200 OK\r\nX-Path: /unsolicited\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nunsolicited"

// rawAnswer is the side's answer to req, proper or not by the path's first
// segment.
func rawAnswer(req *http.Request) []rawWrite {
	p := req.URL.Path
	switch kind(p) {
	case "twice": // a second answer in the same write
		return []rawWrite{{data: properAnswer(req.Method, p, http.StatusOK, "") + unsolicited}}
	case "late": // a second answer 20ms later, before the next request is read
		return []rawWrite{{data: properAnswer(req.Method, p, http.StatusOK, "")}, {after: 20 * time.Millisecond, data: unsolicited}}
	case "head": // HEAD answered with its body, as many a framework does
		return []rawWrite{{data: properAnswer(req.Method, p, http.StatusOK, "") + p}}
	case "nocontent": // a 204 with a body: another answer
		return []rawWrite{{data: properAnswer(req.Method, p, http.StatusNoContent, "") + unsolicited}}
	case "nocontentlate": // the same, the body after the rest of a connection
		return []rawWrite{{data: properAnswer(req.Method, p, http.StatusNoContent, "")}, {after: lateBody, data: unsolicited}}
	case "notmodified": // a 304 with a body
		return []rawWrite{{data: properAnswer(req.Method, p, http.StatusNotModified, "") + p}}
	case "long": // more body than its Content-Length
		return []rawWrite{{data: properAnswer(req.Method, p, http.StatusOK, "") + "-and-more-than-announced"}}
	case "huge": // a head over the 1 MiB limit
		return []rawWrite{{data: properAnswer(req.Method, p, http.StatusOK, "X-Pad: "+strings.Repeat("x", 2<<20)+"\r\n")}}
	}
	return []rawWrite{{data: properAnswer(req.Method, p, http.StatusOK, "")}}
}

// properAnswer is a well-framed answer identifying the request by path.
func properAnswer(method, path string, status int, extraHeader string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\nX-Path: %s\r\nContent-Type: text/plain\r\n%s", status, http.StatusText(status), path, extraHeader)
	if status == http.StatusNoContent || status == http.StatusNotModified {
		b.WriteString("\r\n")
		return b.String()
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(path))
	if method != http.MethodHead {
		b.WriteString(path)
	}
	return b.String()
}

// lateBody is longer than a connection's rest (rawRest).
const lateBody = 150 * time.Millisecond

func kind(path string) string {
	k, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return k
}

// properSide is the well-behaved side: the same answers, properly framed.
func properSide(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Path", r.URL.Path)
	w.Header().Set("Content-Type", "text/plain")
	switch kind(r.URL.Path) {
	case "nocontent", "nocontentlate":
		w.WriteHeader(http.StatusNoContent)
		return
	case "notmodified":
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = io.WriteString(w, r.URL.Path)
}

// quickTrust shortens the probation before a side is pipelined, for the
// mirrors the test starts.
func quickTrust(t *testing.T) {
	old := rawProbation
	rawProbation = 100 * time.Millisecond
	t.Cleanup(func() { rawProbation = old })
}

// earnTrust makes the shadow side at u pipelinable: an exchange, a rest, an
// exchange that reuses the rested connection, then the probation.
func earnTrust(t *testing.T, s *setup, u *url.URL, path string) {
	t.Helper()
	for i := range 2 {
		st := s.stats(t)
		before := st.Compared + st.Errors
		s.do(t, http.MethodGet, fmt.Sprintf("%s/%d", path, i), "", nil)
		waitFor(t, "a warm-up exchange", func() bool { st := s.stats(t); return st.Compared+st.Errors > before })
		time.Sleep(s.mirror.raw.rest + 20*time.Millisecond)
	}
	time.Sleep(s.mirror.raw.probation)
	if !s.mirror.raw.trusts(u) {
		t.Fatal("the side has not earned pipelining")
	}
}

// TestMisbehavingSide: whatever a shadow side sends out of turn, every
// comparison pairs a request with the answer the side gave to that
// request, or counts an error; never another request's answer. Legacy
// answers every request properly and identically, so a pairing gone wrong
// shows as a mismatch (the bodies and X-Path headers name the paths).
//
// "one by one": the requests follow each other at a pace that lets the
// mirror reuse connections that have rested. "backlog":
// the only worker is held while the requests queue up, then takes them in
// batches; for the sides marked pipelined it has earned pipelining first,
// so the misbehaviour happens inside pipelines (except HEAD's: HEAD is not
// pipelined, and its one by one exchange gets the side distrusted). The
// sides that answer twice get a backlog on first contact: they must be
// caught before they are pipelined (rawClient says why that is the only
// defence).
func TestMisbehavingSide(t *testing.T) {
	quickTrust(t)
	for _, tc := range []struct {
		name, kind, method string
		pipelined          bool   // the side earns pipelining before misbehaving (backlog)
		evidence           string // the discard reason the misbehaviour leaves, if any
		errors             bool   // its answers are errors, not compared
	}{
		{"second answer in the same write", "twice", http.MethodGet, false, "unsolicited", false},
		{"second answer 20ms later", "late", http.MethodGet, false, "unsolicited", false},
		{"body on a HEAD answer", "head", http.MethodHead, true, "unsolicited", false},
		{"204 with a body", "nocontent", http.MethodGet, true, "unsolicited", false},
		{"304 with a body", "notmodified", http.MethodGet, true, "unsolicited", false},
		// Closed at once, the connection never receives the late body.
		{"204 with a body after the rest", "nocontentlate", http.MethodGet, true, "", false},
		{"body longer than its Content-Length", "long", http.MethodGet, true, "unsolicited", false},
		{"head over the limit", "huge", http.MethodGet, true, discardHeaderTooLarge, true},
	} {
		for _, backlog := range []bool{false, true} {
			mode := "one by one"
			if backlog {
				mode = "backlog"
			}
			t.Run(tc.name+", "+mode, func(t *testing.T) {
				side := newRawSide(t)
				legacy := newBackend(t, properSide)
				rec := &memRecorder{}
				reg := prometheus.NewRegistry()
				cfg := Config{Recorder: rec, Registerer: reg}
				if backlog {
					cfg.Workers = 1
				}
				s := start(t, legacy.url(t), side.url(), 0, cfg,
					Route{Sample: 1, Rules: diff.Rules{Headers: []string{"X-Path"}}, Timeout: 5 * time.Second})
				if backlog {
					if tc.pipelined {
						earnTrust(t, s, side.url(), "/ok/warm")
					} // else the held request is the first the side sees
					s.do(t, http.MethodGet, "/hold", "", nil)
				}
				const pairs = 10
				for i := range pairs {
					s.do(t, http.MethodGet, fmt.Sprintf("/ok/%d", i), "", nil)
					s.do(t, tc.method, fmt.Sprintf("/%s/%d", tc.kind, i), "", nil)
					if !backlog {
						time.Sleep(s.mirror.raw.rest / 5)
					}
				}
				side.release()
				// After a rest, one more exchange: the pool's check sees
				// what came late.
				time.Sleep(s.mirror.raw.rest + 20*time.Millisecond)
				s.do(t, http.MethodGet, "/ok/last", "", nil)

				st := s.stats(t)
				all := st.Mirrored
				waitFor(t, "every comparison", func() bool { st := s.stats(t); return st.Compared+st.Errors == all })
				st = s.stats(t)
				for _, r := range rec.all() {
					t.Errorf("%s %s paired with the new side's answer %d %q (X-Path %q)", r.Method, r.Path,
						r.New.Status, r.NewBody, r.New.Header.Get("X-Path"))
				}
				wantErrors := uint64(0)
				if tc.errors {
					wantErrors = pairs
				}
				if st.Mismatched != 0 || st.Dropped != 0 || st.Errors != wantErrors || st.Compared != all-wantErrors {
					t.Errorf("stats %+v: want %d compared and matched, %d errors", st, all-wantErrors, wantErrors)
				}
				if tc.evidence != "" && counterValue(t, reg, "ficus_shadow_upstream_conns_discarded_total", "reason", tc.evidence) < 1 {
					t.Errorf("no connection discarded for reason %s", tc.evidence)
				}
				requests, conns, alone, pipelined, headsPiped := side.counts()
				t.Logf("the side got %d requests on %d connections: %d alone (Connection: close), %d pipelined (%d HEAD)",
					requests, conns, alone, pipelined, headsPiped)
				if tc.evidence == "" && conns >= requests {
					t.Error("no connection was reused: the late body was not put to the test")
				}
				if tc.evidence == "unsolicited" && alone == 0 {
					t.Error("the side was never distrusted: no request came alone")
				}
				if headsPiped > 0 {
					t.Errorf("%d HEAD requests pipelined", headsPiped)
				}
				if backlog && tc.pipelined && tc.method != http.MethodHead && pipelined == 0 {
					t.Error("the backlog was not pipelined: the misbehaviour was not tested inside a pipeline")
				}
			})
		}
	}
}
