package serve

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestHeadConflict(t *testing.T) {
	const line = "POST /x HTTP/1.1"
	tests := []struct {
		name, win string
		want      error
	}{
		{"chunked only", line + "\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello", nil},
		{"both", line + "\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 30\r\n\r\n0\r\n\r\n", ErrContentLengthWithChunked},
		{"both, odd case", line + "\r\nhost: a\r\ncontent-LENGTH: 3\r\ntransfer-encoding: chunked\r\n\r\n", ErrContentLengthWithChunked},
		{"bare LF", line + "\nTransfer-Encoding: chunked\nContent-Length: 3\n\n", ErrContentLengthWithChunked},
		{"earlier request", "GET / HTTP/1.1\r\nHost: a\r\n\r\n" + line + "\r\nTransfer-Encoding: chunked\r\n\r\n", nil},
		{"fake head without CL read ahead", line + "\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
			line + "\r\nTransfer-Encoding: chunked\r\n\r\n", ErrContentLengthWithChunked},
		{"head out of the window", "Transfer-Encoding: chunked\r\n\r\n", ErrHeadUnverifiable},
		{"not at a line start", "X" + line + "\r\nTransfer-Encoding: chunked\r\n\r\n", ErrHeadUnverifiable},
		{"incomplete head", line + "\r\nTransfer-Encoding: chunked\r\n", ErrHeadUnverifiable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := headConflict([]byte(tt.win), line); !errors.Is(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// The ring keeps exactly the most recent HeadWindow bytes, whatever the
// sizes of the reads that filled it.
func TestRecConnWindow(t *testing.T) {
	for _, sizes := range [][]int{{1}, {100, 5000}, {4096, 4096, 4096, 4096, 4096, 4096, 4096, 4096, 10}, {HeadWindow + 7},
		{3000, HeadWindow, 17}, {20000, 20000, 20000}} {
		var all []byte
		c := &recConn{}
		for i, n := range sizes {
			p := bytes.Repeat([]byte{byte('a' + i)}, n)
			for j := range p {
				p[j] += byte(j % 3)
			}
			c.record(p)
			all = append(all, p...)
		}
		want := all[max(0, len(all)-HeadWindow):]
		if got := c.linear(); !bytes.Equal(got, want) {
			t.Fatalf("sizes %v: window of %d bytes differs from the last %d written", sizes, len(got), len(want))
		}
	}
}

// End to end through Run: a chunked request with a Content-Length is seen
// by FramingConflict, a plain chunked one is not.
func TestFramingConflictThroughRun(t *testing.T) {
	s := New()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%v", FramingConflict(r))
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := cfg("127.0.0.1:0")
	c.RecordHeads = true
	go func() { _ = s.Run(ctx, c, h) }()
	<-s.Ready()
	for _, tt := range []struct{ req, want string }{
		{"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "<nil>"},
		{"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", ErrContentLengthWithChunked.Error()},
		{"POST /a HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", HeadWindow) + "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", ErrHeadUnverifiable.Error()},
	} {
		conn, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write([]byte(tt.req)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		conn.Close()
		if b.String() != tt.want {
			t.Errorf("%.60q: got %q, want %q", tt.req, b.String(), tt.want)
		}
	}
}

func FuzzHeadConflict(f *testing.F) {
	f.Add([]byte("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n"), "POST /x HTTP/1.1")
	f.Add([]byte("a\nPOST /x HTTP/1.1\nA: b\n\n"), "POST /x HTTP/1.1")
	f.Fuzz(func(t *testing.T, win []byte, line string) {
		if line == "" {
			return
		}
		err := headConflict(win, line)
		// A head with a Content-Length right after the request line is
		// always caught.
		if bytes.HasPrefix(win, []byte(line+"\r\nContent-Length: 1\r\n\r\n")) && !errors.Is(err, ErrContentLengthWithChunked) {
			t.Fatalf("missed: %v", err)
		}
	})
}
