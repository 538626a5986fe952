package upstream

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// delayMark in a reply splits it into writes 20 ms apart.
const delayMark = "\x00DELAY\x00"

// rawServer answers every request on a connection with reply(n), n counting
// the connection's requests from 0, written as it is.
func rawServer(t *testing.T, reply func(n int) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for n := 0; ; n++ {
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					for i, part := range strings.Split(reply(n), delayMark) {
						if i > 0 {
							time.Sleep(20 * time.Millisecond)
						}
						if _, err := c.Write([]byte(part)); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func exchange(t *testing.T, c *Conns) (*Conn, string) {
	t.Helper()
	cn, err := c.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_ = cn.SetDeadline(time.Now().Add(5 * time.Second))
	req, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	if err := req.Write(cn.W); err != nil {
		t.Fatal(err)
	}
	if err := cn.W.Flush(); err != nil {
		t.Fatal(err)
	}
	resp, err := cn.ReadResponse(req)
	if err != nil {
		return cn, "error: " + err.Error()
	}
	var b strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
	return cn, b.String()
}

// A stray response that arrives after the answer was read (so after the
// buffered-bytes check when the connection went back to the pool) is caught
// before the connection is reused: the next exchange gets a fresh one.
func TestConnsDiscardStrayIdle(t *testing.T) {
	addr := rawServer(t, func(n int) string {
		if n == 0 {
			return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + delayMark +
				"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nSTRAY"
		}
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	})
	var reasons []string
	c := newConns(connsConfig{addr: addr, timeouts: DefaultTimeouts(), max: 8, maxHead: 1 << 20, onDiscard: func(r string) { reasons = append(reasons, r) }})
	cn, body := exchange(t, c)
	if body != "ok" || cn.R.Buffered() != 0 {
		t.Fatalf("first answer %q, %d bytes buffered", body, cn.R.Buffered())
	}
	c.Put(cn)
	time.Sleep(100 * time.Millisecond) // the stray arrives while idle
	cn2, body := exchange(t, c)
	if cn2.Reused || body != "ok" {
		t.Fatalf("second exchange reused=%v body %q", cn2.Reused, body)
	}
	if len(reasons) != 1 || reasons[0] != DiscardUnsolicited {
		t.Fatalf("discard reasons %v, want [%s]", reasons, DiscardUnsolicited)
	}
}

// A backend that closes its idle keep-alive connection: the pool notices
// before reuse and dials afresh instead of failing the request.
func TestConnsDiscardClosedIdle(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				br := bufio.NewReader(c)
				if _, err := http.ReadRequest(br); err == nil {
					_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
				}
				c.Close() // keep-alive announced, then closed while idle
			}()
		}
	}()
	var reasons []string
	c := newConns(connsConfig{addr: ln.Addr().String(), timeouts: DefaultTimeouts(), max: 8, maxHead: 1 << 20, onDiscard: func(r string) { reasons = append(reasons, r) }})
	cn, body := exchange(t, c)
	if body != "ok" {
		t.Fatal(body)
	}
	c.Put(cn)
	time.Sleep(50 * time.Millisecond)
	cn2, body := exchange(t, c)
	if cn2.Reused || body != "ok" || len(reasons) != 1 || reasons[0] != DiscardClosed {
		t.Fatalf("reused=%v body=%q reasons=%v", cn2.Reused, body, reasons)
	}
}

// A response head over the limit fails with ErrResponseHeaderTooLarge
// after reading about the limit, not the whole head.
func TestConnReadResponseHeaderLimit(t *testing.T) {
	big := "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("b", 4<<20) + "\r\nContent-Length: 2\r\n\r\nok"
	addr := rawServer(t, func(int) string { return big })
	c := newConns(connsConfig{addr: addr, timeouts: DefaultTimeouts(), max: 8, maxHead: 64 << 10, onDiscard: nil})
	_, body := exchange(t, c)
	if !strings.Contains(body, ErrResponseHeaderTooLarge.Error()) {
		t.Fatalf("got %q", body)
	}
	small := newConns(connsConfig{addr: rawServer(t, func(int) string { return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" }),
		timeouts: DefaultTimeouts(), max: 8, maxHead: 64 << 10})
	if _, body := exchange(t, small); body != "ok" {
		t.Fatalf("small head: %q", body)
	}
	if !errors.Is(errors.Join(ErrResponseHeaderTooLarge), ErrResponseHeaderTooLarge) {
		t.Fatal("sentinel")
	}
}

func TestBodyForbidden(t *testing.T) {
	for _, tt := range []struct {
		method string
		status int
		want   bool
	}{{"HEAD", 200, true}, {"GET", 204, true}, {"GET", 304, true}, {"GET", 103, true}, {"GET", 200, false}, {"POST", 201, false}} {
		if got := BodyForbidden(tt.method, tt.status); got != tt.want {
			t.Errorf("BodyForbidden(%s, %d) = %v", tt.method, tt.status, got)
		}
	}
}

// A request is sent again on a fresh connection only when that cannot act
// twice: a safe method (or an idempotency key) and a body that can be had again.
func TestRewindable(t *testing.T) {
	body := func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("x")), nil }
	for _, tt := range []struct {
		method  string
		body    bool
		getBody bool
		key     bool
		want    bool
	}{
		{"GET", false, false, false, true},
		{"HEAD", false, false, false, true},
		{"POST", false, false, false, false},
		{"POST", true, true, false, false},
		{"POST", true, true, true, true},
		{"PUT", true, false, true, false},
		{"OPTIONS", true, true, false, true},
	} {
		req, _ := http.NewRequest(tt.method, "http://x/", nil)
		if tt.body {
			req.Body = io.NopCloser(strings.NewReader("x"))
		}
		if tt.getBody {
			req.GetBody = body
		}
		if tt.key {
			req.Header.Set("Idempotency-Key", "k")
		}
		if got := rewindable(req); got != tt.want {
			t.Errorf("%+v: rewindable = %v", tt, got)
		}
	}
}
