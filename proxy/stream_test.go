package proxy

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/proxy/route"
)

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// writeFrame writes one final text frame (RFC 6455 §5.2), masked if mask != nil.
func writeFrame(w io.Writer, payload []byte, mask []byte) error {
	hdr := []byte{0x81, 0}
	if len(payload) > 125 {
		return errors.New("test frames are short")
	}
	hdr[1] = byte(len(payload))
	body := append([]byte(nil), payload...)
	if mask != nil {
		hdr[1] |= 0x80
		hdr = append(hdr, mask...)
		for i := range body {
			body[i] ^= mask[i%4]
		}
	}
	_, err := w.Write(append(hdr, body...))
	return err
}

func readFrame(r io.Reader) ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	if hdr[0] != 0x81 {
		return nil, fmt.Errorf("unexpected opcode byte %#x", hdr[0])
	}
	n := int(hdr[1] & 0x7f)
	var mask []byte
	if hdr[1]&0x80 != 0 {
		mask = make([]byte, 4)
		if _, err := io.ReadFull(r, mask); err != nil {
			return nil, err
		}
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return nil, err
	}
	for i := range p {
		if mask != nil {
			p[i] ^= mask[i%4]
		}
	}
	return p, nil
}

// wsEcho upgrades and echoes text frames back, upper-cased so the test can
// tell an echo from a proxy reflecting bytes.
func wsEcho(w http.ResponseWriter, r *http.Request) bool {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		http.Error(w, "not a websocket request", http.StatusBadRequest)
		return true
	}
	c, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return true
	}
	defer c.Close()
	fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		wsAccept(r.Header.Get("Sec-WebSocket-Key")))
	if rw.Flush() != nil {
		return true
	}
	for {
		msg, err := readFrame(rw)
		if err != nil {
			return true
		}
		if writeFrame(rw, []byte(strings.ToUpper(string(msg))), nil) != nil || rw.Flush() != nil {
			return true
		}
	}
}

func TestWebSocketPassthrough(t *testing.T) {
	legacy := newEcho(t, "legacy", nil)
	newB := newEcho(t, "new", wsEcho)
	p, _ := startProxy(t, Config{
		Legacy: legacy.url(t), ServedByHeader: true,
		Routes: []route.Spec{{Name: "ws", Path: "/ws", New: newB.url(t), Weight: 100}},
	})
	c, err := net.DialTimeout("tcp", p.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: app\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", key)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != wsAccept(key) {
		t.Fatalf("accept %q", got)
	}
	if resp.Header.Get("Ficus-Served-By") != "new" {
		t.Fatalf("served-by %q", resp.Header.Get("Ficus-Served-By"))
	}
	mask := make([]byte, 4)
	binary.BigEndian.PutUint32(mask, 0xa1b2c3d4)
	for _, msg := range []string{"hello", "strangler fig"} {
		if err := writeFrame(c, []byte(msg), mask); err != nil {
			t.Fatal(err)
		}
		got, err := readFrame(br)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != strings.ToUpper(msg) {
			t.Fatalf("echo %q, want %q", got, strings.ToUpper(msg))
		}
	}
}

func TestSSEStreamsBeforeEnd(t *testing.T) {
	release := make(chan struct{})
	legacy := newEcho(t, "legacy", func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		_ = http.NewResponseController(w).Flush()
		select { // the stream stays open until the client saw the first event
		case <-release:
		case <-r.Context().Done():
			return true
		}
		fmt.Fprint(w, "data: second\n\n")
		return true
	})
	_, base := startProxy(t, Config{Legacy: legacy.url(t)})
	resp, err := http.Get(base + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	got := make(chan string, 1)
	go func() {
		line, _ := br.ReadString('\n')
		got <- line
	}()
	select {
	case line := <-got:
		if line != "data: first\n" {
			t.Fatalf("first line %q", line)
		}
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("first event not delivered while the stream was open")
	}
	close(release)
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	if string(rest) != "\ndata: second\n\n" {
		t.Fatalf("rest %q", rest)
	}
}

// genReader yields n bytes of a repeating pattern; it is deliberately not a
// bytes.Reader so the client cannot know the length and must send chunked.
type genReader struct {
	left    int64
	pattern []byte
}

func newGenReader(n int64) *genReader {
	g := &genReader{left: n, pattern: make([]byte, 64<<10)}
	for i := range g.pattern {
		g.pattern[i] = byte(i)
	}
	return g
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	n := copy(p, g.pattern)
	g.left -= int64(n)
	return n, nil
}

func TestChunkedUploadStreamed(t *testing.T) {
	const size = 256 << 20
	var received atomic.Int64
	var chunked atomic.Bool
	newB := newEcho(t, "new", func(w http.ResponseWriter, r *http.Request) bool {
		chunked.Store(len(r.TransferEncoding) == 1 && r.TransferEncoding[0] == "chunked")
		n, _ := io.CopyBuffer(io.Discard, r.Body, make([]byte, 64<<10))
		received.Store(n)
		fmt.Fprintf(w, "%d", n)
		return true
	})
	legacy := newEcho(t, "legacy", nil)
	_, base := startProxy(t, Config{
		Legacy: legacy.url(t),
		Routes: []route.Spec{{Name: "upload", Path: "/upload", New: newB.url(t), Weight: 100}},
	})

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseline := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
			}
		}
	}()
	req, err := http.NewRequest("POST", base+"/upload", newGenReader(size))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	close(stop)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != fmt.Sprint(size) || received.Load() != size {
		t.Fatalf("status %d body %q received %d, want %d", resp.StatusCode, body, received.Load(), size)
	}
	if !chunked.Load() {
		t.Error("upstream did not receive a chunked body")
	}
	if grow := int64(peak.Load()) - int64(baseline); grow > 64<<20 {
		t.Fatalf("heap grew by %d MiB while streaming %d MiB: body is being buffered", grow>>20, size>>20)
	}
}
