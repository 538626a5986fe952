package proxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Raw TCP peers for the adversarial tests: a backend that breaks HTTP/1.1
// framing in scripted ways, and a client that writes exact bytes. Both bind
// loopback only and put a deadline on every socket operation, so a test that
// finds a bug fails with a message instead of hanging.

const (
	rawOpTimeout   = 3 * time.Second  // default deadline of one client read or write
	rawBackendIdle = 10 * time.Second // a backend connection's read/write deadline
)

// rawSeen is one request as the raw backend received it.
type rawSeen struct {
	Method     string
	Path       string // decoded, as the backend's http.ReadRequest parsed it
	RequestURI string // the request target exactly as it came on the wire
	RawQuery   string
	Header     http.Header
	Body       []byte
	BodyErr    error
}

// rawBackend answers each request with a behaviour chosen by the last
// segment of its path (see answer). Every valid answer names the request it
// answers: header X-Answer and body "answer:" + the request's escaped path.
// Every byte nobody asked for contains "STRAY".
type rawBackend struct {
	tb   testing.TB
	name string
	ln   net.Listener

	mu      sync.Mutex
	seen    []*rawSeen
	conns   map[net.Conn]struct{}
	scripts map[string][]byte // one-shot raw answers by request path (fuzz)
	// scripted receives a value after each scripted answer was written.
	scripted chan struct{}
	closed   bool
	wg       sync.WaitGroup
}

func newRawBackend(tb testing.TB, name string) *rawBackend {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	b := &rawBackend{tb: tb, name: name, ln: ln, conns: map[net.Conn]struct{}{}, scripts: map[string][]byte{},
		scripted: make(chan struct{}, 1)}
	b.wg.Add(1)
	go b.accept()
	tb.Cleanup(b.close)
	return b
}

func (b *rawBackend) URL() *url.URL { return &url.URL{Scheme: "http", Host: b.ln.Addr().String()} }

// script makes the next request for path be answered with exactly raw.
func (b *rawBackend) script(path string, raw []byte) {
	b.mu.Lock()
	b.scripts[path] = raw
	b.mu.Unlock()
}

// take returns the requests received so far and forgets them.
func (b *rawBackend) take() []rawSeen {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]rawSeen, len(b.seen))
	for i, s := range b.seen {
		out[i] = *s
	}
	b.seen = nil
	return out
}

func seenTargets(ss []rawSeen) string {
	var parts []string
	for _, s := range ss {
		parts = append(parts, s.Method+" "+s.RequestURI)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func (b *rawBackend) accept() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			_ = c.Close()
			return
		}
		b.conns[c] = struct{}{}
		b.wg.Add(1)
		b.mu.Unlock()
		go b.serveConn(c)
	}
}

func (b *rawBackend) close() {
	b.mu.Lock()
	b.closed = true
	for c := range b.conns {
		_ = c.Close()
	}
	b.mu.Unlock()
	_ = b.ln.Close()
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		b.tb.Errorf("raw backend %s: connection goroutines still running 5s after close", b.name)
	}
}

// serveConn is the keep-alive loop of one backend connection.
func (b *rawBackend) serveConn(c net.Conn) {
	defer b.wg.Done()
	defer func() {
		b.mu.Lock()
		delete(b.conns, c)
		b.mu.Unlock()
		_ = c.Close()
	}()
	br := bufio.NewReader(c)
	for {
		_ = c.SetDeadline(time.Now().Add(rawBackendIdle))
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		rec := &rawSeen{Method: req.Method, Path: req.URL.Path, RequestURI: req.RequestURI,
			RawQuery: req.URL.RawQuery, Header: req.Header}
		b.mu.Lock()
		b.seen = append(b.seen, rec) // recorded as soon as the head arrived
		b.mu.Unlock()
		body, err := io.ReadAll(req.Body)
		b.mu.Lock()
		rec.Body, rec.BodyErr = body, err
		b.mu.Unlock()
		if err != nil || !b.answer(c, req) {
			return
		}
	}
}

// Misbehaviours, selected by the last path segment:
//
//	second, second-late    a valid answer, then an unsolicited full response
//	                       (same write, or a separate write 20 ms later)
//	headbody, headbody-late a HEAD answer followed by "body" bytes that are
//	                       a full response (same write, or 20 ms later)
//	204body, 304body       a 204/304 followed by a full response
//	overrun                a body longer than its Content-Length; the extra
//	                       bytes are a response
//	split                  a valid answer in 6 writes 10 ms apart
//	hugeheader             a 2 MiB response head
//	closemid               Content-Length 1000, 100 bytes, close
//	early                  103 Early Hints, then a valid answer
//	chunked-notype         a chunked answer without Content-Type
//
// Anything else is answered normally. answer reports whether the connection
// stays open.
func (b *rawBackend) answer(c net.Conn, req *http.Request) bool {
	p := req.URL.EscapedPath()
	b.mu.Lock()
	raw, scripted := b.scripts[req.URL.Path]
	delete(b.scripts, req.URL.Path)
	b.mu.Unlock()
	if scripted {
		ok := rawWrite(c, string(raw))
		select {
		case b.scripted <- struct{}{}:
		default:
		}
		return ok
	}
	head := req.Method == http.MethodHead
	switch p[strings.LastIndexByte(p, '/')+1:] {
	case "second":
		return rawWrite(c, rawAnswer(p, head)+rawStray(p))
	case "second-late":
		return rawWrite(c, rawAnswer(p, head)) && rawSleepWrite(c, 20*time.Millisecond, rawStray(p))
	case "headbody":
		return rawWrite(c, rawHeadAnnouncing(p, len(rawStray(p)))+rawStray(p))
	case "headbody-late":
		return rawWrite(c, rawHeadAnnouncing(p, len(rawStray(p)))) &&
			rawSleepWrite(c, 20*time.Millisecond, rawStray(p))
	case "204body":
		return rawWrite(c, "HTTP/1.1 204 No Content\r\nX-Answer: "+p+"\r\n\r\n"+rawStray(p))
	case "304body":
		return rawWrite(c, "HTTP/1.1 304 Not Modified\r\nX-Answer: "+p+"\r\n\r\n"+rawStray(p))
	case "overrun":
		return rawWrite(c, rawAnswer(p, false)+"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nSTRAY")
	case "split":
		s := rawAnswer(p, head)
		n := len(s)/6 + 1
		for len(s) > 0 {
			k := min(n, len(s))
			if !rawSleepWrite(c, 10*time.Millisecond, s[:k]) {
				return false
			}
			s = s[k:]
		}
		return true
	case "hugeheader":
		return rawHugeHead(c, p, 2<<20)
	case "closemid":
		body := "answer:" + p
		body += strings.Repeat(".", 100-len(body))
		_ = rawWrite(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\nX-Answer: "+p+"\r\n\r\n"+body)
		return false
	case "early":
		return rawWrite(c, "HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n") &&
			rawSleepWrite(c, 5*time.Millisecond, rawAnswer(p, head))
	case "chunked-notype":
		body := "answer:" + p
		return rawWrite(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Answer: "+p+"\r\n\r\n"+
			fmt.Sprintf("%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n", 5, body[:5], len(body)-5, body[5:]))
	}
	return rawWrite(c, rawAnswer(p, head))
}

func rawAnswer(p string, head bool) string {
	body := "answer:" + p
	s := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(body)) +
		"\r\nX-Answer: " + p + "\r\n\r\n"
	if !head {
		s += body
	}
	return s
}

// rawHeadAnnouncing is a HEAD answer whose Content-Length is n.
func rawHeadAnnouncing(p string, n int) string {
	return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(n) +
		"\r\nX-Answer: " + p + "\r\n\r\n"
}

// rawStray is an unsolicited response that would pass for an answer.
func rawStray(p string) string {
	body := "STRAY:" + p
	return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(body)) +
		"\r\nX-Answer: STRAY\r\n\r\n" + body
}

func rawWrite(c net.Conn, s string) bool {
	_ = c.SetWriteDeadline(time.Now().Add(rawBackendIdle))
	_, err := io.WriteString(c, s)
	return err == nil
}

func rawSleepWrite(c net.Conn, d time.Duration, s string) bool {
	time.Sleep(d)
	return rawWrite(c, s)
}

// rawHugeHead streams a response head of about size bytes from one small
// buffer, so the backend itself does not weigh on the heap being measured.
func rawHugeHead(c net.Conn, p string, size int) bool {
	pad := strings.Repeat("a", 1000)
	buf := make([]byte, 0, 64<<10)
	buf = append(buf, "HTTP/1.1 200 OK\r\n"...)
	for i, sent := 0, 0; sent < size; i++ {
		buf = fmt.Appendf(buf, "X-Pad-%06d: %s\r\n", i, pad)
		if len(buf) > 60<<10 {
			if !rawWrite(c, string(buf)) {
				return false
			}
			sent += len(buf)
			buf = buf[:0]
		}
	}
	return rawWrite(c, string(buf)+strings.TrimPrefix(rawAnswer(p, false), "HTTP/1.1 200 OK\r\n"))
}

// rawClient is one client connection to ficus that writes exact bytes.
type rawClient struct {
	c   net.Conn
	br  *bufio.Reader
	got bytes.Buffer // every byte read from ficus, parsed or not
}

// openRaw dials ficus; the caller closes. Safe off the test goroutine.
func openRaw(addr string) (*rawClient, error) {
	c, err := net.DialTimeout("tcp", addr, rawOpTimeout)
	if err != nil {
		return nil, err
	}
	rc := &rawClient{c: c}
	rc.br = bufio.NewReader(io.TeeReader(c, &rc.got))
	return rc, nil
}

// dialRaw dials ficus and closes the connection when the test ends.
func dialRaw(tb testing.TB, addr string) *rawClient {
	tb.Helper()
	rc, err := openRaw(addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = rc.c.Close() })
	return rc
}

func (rc *rawClient) send(s string) error {
	_ = rc.c.SetWriteDeadline(time.Now().Add(rawOpTimeout))
	_, err := io.WriteString(rc.c, s)
	return err
}

// rawResp is a final response as the client read it.
type rawResp struct {
	Status  int
	Header  http.Header
	Body    []byte
	BodyErr error // the body did not end as its framing said (aborted)
	Close   bool
	Interim []int // informational statuses read before the final one
}

// read reads one final response (skipping 1xx) within d.
func (rc *rawClient) read(method string, d time.Duration) (*rawResp, error) {
	_ = rc.c.SetReadDeadline(time.Now().Add(d))
	out := &rawResp{}
	for {
		resp, err := http.ReadResponse(rc.br, &http.Request{Method: method})
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			out.Interim = append(out.Interim, resp.StatusCode)
			continue
		}
		out.Status, out.Header, out.Close = resp.StatusCode, resp.Header, resp.Close
		out.Body, out.BodyErr = io.ReadAll(resp.Body)
		return out, nil
	}
}

// do sends req and reads its response.
func (rc *rawClient) do(req, method string) (*rawResp, error) {
	if err := rc.send(req); err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	return rc.read(method, rawOpTimeout)
}

// eof waits up to d for ficus to close the connection; extra is whatever it
// sent instead or before.
func (rc *rawClient) eof(d time.Duration) (closed bool, extra []byte) {
	_ = rc.c.SetReadDeadline(time.Now().Add(d))
	extra, err := io.ReadAll(rc.br)
	return err == nil || errors.Is(err, syscall.ECONNRESET), extra
}

func (rc *rawClient) strays() int { return bytes.Count(rc.got.Bytes(), []byte("STRAY")) }

// advMode is the proxy path a request takes: ficus's fast path takes
// body-less GET and HEAD, httputil.ReverseProxy anything with a body.
type advMode struct {
	name string
	body bool
}

var advModes = []advMode{{"fast", false}, {"reverseproxy", true}}

// method is what a GET or HEAD becomes in this mode.
func (m advMode) method(method string) string {
	if m.body && method == http.MethodGet {
		return http.MethodPost
	}
	return method
}

// request is method target in this mode, with extra header lines ("K: v").
func (m advMode) request(method, target string, extra ...string) string {
	s := m.method(method) + " " + target + " HTTP/1.1\r\nHost: ficus.test\r\n"
	for _, h := range extra {
		s += h + "\r\n"
	}
	if m.body {
		return s + "Content-Length: 4\r\n\r\nbody"
	}
	return s + "\r\n"
}

func describe(r *rawResp) string {
	s := fmt.Sprintf("status %d, X-Answer %q, body %.80q", r.Status, r.Header.Get("X-Answer"), r.Body)
	if r.BodyErr != nil {
		s += fmt.Sprintf(" (body error: %v)", r.BodyErr)
	}
	return s
}

// ownAnswer returns "" when r is the backend's answer to method path, else
// what is wrong with it.
func ownAnswer(r *rawResp, err error, method, path string) string {
	switch {
	case err != nil:
		return fmt.Sprintf("no response: %v", err)
	case r.BodyErr != nil || r.Header.Get("X-Answer") != path:
		return "got " + describe(r) + ", want the answer to " + path
	}
	want := "answer:" + path
	if method == http.MethodHead || r.Status == http.StatusNoContent || r.Status == http.StatusNotModified {
		want = ""
	}
	if string(r.Body) != want {
		return "got " + describe(r) + ", want body " + strconv.Quote(want)
	}
	return ""
}

// isFicusError reports an error ficus made itself: 4xx/5xx with a JSON
// body that has an "error" field (to a HEAD, only the JSON Content-Type).
func isFicusError(r *rawResp, method string) bool {
	if r.Status < 400 || r.BodyErr != nil || r.Header.Get("X-Answer") != "" {
		return false
	}
	if method == http.MethodHead {
		return strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") && len(r.Body) == 0
	}
	var v struct {
		Error string `json:"error"`
	}
	return json.Unmarshal(r.Body, &v) == nil && v.Error != ""
}

// ownOrError is the invariant: a client gets its own answer or a ficus error.
func ownOrError(r *rawResp, err error, method, path string) string {
	if err == nil && isFicusError(r, method) {
		return ""
	}
	return ownAnswer(r, err, method, path)
}
