package recording

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
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
	"github.com/ficus-migrate/ficus/proxy/upstream"
	"github.com/ficus-migrate/ficus/shadow/redact"
	"github.com/ficus-migrate/ficus/shadow/traffic/mirror"
)

// TestRecordThroughProxy sends requests through a real proxy whose route
// is recorded, on both sides (weight 50, sticky by user), GETs on the fast
// path and POSTs with bodies on the other, secrets in headers, the query
// and bodies: every exchange arrives on a real FICUS_TRAFFIC with the
// answer the client got, the side that served it and the user's hash, and
// no secret byte is anywhere in the stream. A method not recorded is not,
// the stream has the configured limits, and export/import keeps every field.
func TestRecordThroughProxy(t *testing.T) {
	t.Parallel()
	ns := testenv.MustStartNATS(t)
	nc, err := nats.Connect(ns.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	backend := func(side string) *url.URL {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Set-Cookie", "sid=s3cret-session-"+side)
			fmt.Fprintf(w, `{"side":%q,"path":%q,"got":%q,"token":"s3cret-answer-token"}`, side, r.URL.Path, body)
		}))
		t.Cleanup(srv.Close)
		u, _ := url.Parse(srv.URL)
		return u
	}
	legacy, nw := backend("legacy"), backend("new")
	key := []byte("test-recording-key-0123456789")
	rec, err := New(ctx, Config{
		Conn: nc, MaxAge: time.Hour, MaxBytes: 64 << 20, RedactKey: key, Logger: slog.New(slog.DiscardHandler),
		Routes: []Route{{
			Name: "r", Paths: mirror.Paths{Legacy: legacy, New: nw, StripPrefix: "/api"}, Sample: 1,
			Methods: []string{"GET", "POST"}, StickyKind: "header", StickyName: "X-User",
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := proxy.New(proxy.Config{
		Listen: "127.0.0.1:0", Legacy: legacy, Hook: upstream.Chain(nil, rec), Logger: slog.New(slog.DiscardHandler),
		Routes: []route.Spec{{Name: "r", PathPrefix: "/api", New: nw, Weight: 50, Sticky: "header:X-User", StripPrefix: "/api"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = p.Run(rctx) }()
	go func() { defer wg.Done(); _ = rec.Run(rctx) }()
	t.Cleanup(func() { stop(); wg.Wait() })
	<-p.Ready()
	base := "http://" + p.Addr().String()

	const users = 20
	sent := 0
	for u := range users {
		for _, m := range []string{"POST", "GET", "PUT"} {
			var body io.Reader
			if m != "GET" {
				body = strings.NewReader(fmt.Sprintf(`{"user":%d,"password":"s3cret-pw-%d"}`, u, u))
			}
			req, _ := http.NewRequestWithContext(ctx, m, fmt.Sprintf("%s/api/items/%d?access_token=s3cret-q-%d&page=2", base, u, u), body)
			req.Header.Set("Authorization", "Bearer s3cret-bearer")
			req.Header.Set("X-User", fmt.Sprintf("user-%d", u))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if m != "PUT" {
				sent++
			}
		}
	}
	js, _ := jetstream.New(nc)
	var xs []Exchange
	for deadline := time.Now().Add(20 * time.Second); ; {
		if xs, err = Read(ctx, js, "r", time.Time{}, 0); err != nil {
			t.Fatal(err)
		}
		if len(xs) >= sent || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(xs) != sent {
		t.Fatalf("%d exchanges recorded, want %d (stats %+v)", len(xs), sent, rec.Stats())
	}
	red, _ := redact.New(redact.Config{Key: key})
	sides := map[string]int{}
	for _, x := range xs {
		sides[x.Served]++
		if x.Method == "PUT" {
			t.Errorf("PUT recorded: %+v", x)
		}
		if !strings.HasPrefix(x.Path, "/api/items/") || !strings.Contains(x.Path, "page=2") {
			t.Errorf("path %q: want the client's path with its query", x.Path)
		}
		if x.Answer.Status != 200 || !strings.Contains(x.Answer.Body.Text, `"side":"`+x.Served+`"`) {
			t.Errorf("answer %+v does not come from the side served (%s)", x.Answer, x.Served)
		}
		if x.Answer.SHA256 == "" || x.Answer.Size == 0 || x.Redaction != Hashed {
			t.Errorf("answer size/hash/redaction missing: %+v", x)
		}
		user, _ := strings.CutPrefix(x.Path, "/api/items/")
		user, _, _ = strings.Cut(user, "?")
		if want := red.Mark("user-" + user); x.Sticky != want {
			t.Errorf("sticky %q, want %q (the hash of user-%s)", x.Sticky, want, user)
		}
		if x.Method == "POST" && !strings.Contains(x.RequestBody.Text, `"user":`+user) {
			t.Errorf("POST body %+v not recorded", x.RequestBody)
		}
		if got := x.RequestHeader.Get("Authorization"); got != red.Mark("Bearer s3cret-bearer") {
			t.Errorf("Authorization recorded as %q", got)
		}
	}
	if sides["legacy"] == 0 || sides["new"] == 0 {
		t.Errorf("sides served %v: want both at weight 50", sides)
	}
	// Not one secret byte in the stream.
	stream, err := js.Stream(ctx, StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := stream.Info(ctx)
	if info.Config.MaxAge != time.Hour || info.Config.MaxBytes != 64<<20 {
		t.Errorf("stream limits %v / %d, want 1h / 64MiB", info.Config.MaxAge, info.Config.MaxBytes)
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(m.Data, []byte("s3cret")) {
			t.Fatalf("message %d holds a secret: %s", seq, m.Data)
		}
	}
	// The dashboard's figures, and the last replay's summary.
	if _, err := js.Publish(ctx, SummarySubject("r"), []byte(`{"route":"r","match_rate":0.5}`)); err != nil {
		t.Fatal(err)
	}
	figs, err := Recordings(ctx, js, []string{"r", "other"})
	if err != nil {
		t.Fatal(err)
	}
	if r := figs[0]; r.Count != uint64(sent) || r.Bytes == 0 || r.Oldest == nil || r.Oldest.After(time.Now()) ||
		string(r.LastReplay) != `{"route":"r","match_rate":0.5}` {
		t.Errorf("figures of r: %+v", r)
	}
	if o := figs[1]; o.Count != 0 || o.Oldest != nil || o.LastReplay != nil {
		t.Errorf("figures of a route without records: %+v", o)
	}
	// Export and import keep everything.
	var buf bytes.Buffer
	if err := WriteJSONL(&buf, xs); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSONL(&buf, "r", time.Time{}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 5 || fmt.Sprint(back[3]) != fmt.Sprint(xs[3]) {
		t.Errorf("import gave %d exchanges; [3] = %+v, want %+v", len(back), back[3], xs[3])
	}
}

// TestQueueBounded: with nothing publishing, the queue takes what its item
// and byte bounds allow and drops and counts the rest, without blocking.
func TestQueueBounded(t *testing.T) {
	for _, tt := range []struct {
		name         string
		pending      int
		pendingBytes int64
		body         int
		wantQueued   int
	}{
		{"items", 3, 1 << 30, 10, 3},
		{"bytes", 1000, 10 << 10, 4 << 10, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &Recorder{cfg: Config{Pending: tt.pending, PendingBytes: tt.pendingBytes}, queue: make(chan *item, tt.pending)}
			for range 10 {
				r.enqueue(&item{respBody: make([]byte, tt.body)})
			}
			if n, _ := r.Pending(); n != tt.wantQueued || r.Stats().Dropped != uint64(10-tt.wantQueued) {
				t.Errorf("queued %d, dropped %d; want %d and %d", n, r.Stats().Dropped, tt.wantQueued, 10-tt.wantQueued)
			}
			if _, held := r.Pending(); held > tt.pendingBytes {
				t.Errorf("held %d bytes, over the bound %d", held, tt.pendingBytes)
			}
		})
	}
}

// TestTapKeepsAndHashes: the tap keeps up to max bytes of an answer fed in
// chunks; the recorded sha256 is the whole body's, whether it was kept
// whole (hashed when published) or cut (hashed as it streamed).
func TestTapKeepsAndHashes(t *testing.T) {
	red, _ := redact.New(redact.Config{Key: []byte("k-0123456789abcdef")})
	r := &Recorder{red: red, cfg: Config{Pending: 1, PendingBytes: 1 << 20}, queue: make(chan *item, 1)}
	rs := &routeState{cfg: Route{Name: "r", Paths: mirror.Paths{Legacy: &url.URL{}, New: &url.URL{}}}}
	for _, tc := range []struct {
		name          string
		size, max     int
		chunks        int
		wantTruncated bool
	}{
		{"small", 100, 1024, 1, false},
		{"exact", 1024, 1024, 3, false},
		{"cut in the first chunk", 5000, 1024, 1, true},
		{"cut later", 5000, 1024, 7, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := bytes.Repeat([]byte("abcdefghij"), tc.size/10+1)[:tc.size]
			tp := &tap{r: r, max: int64(tc.max), it: &item{route: rs, method: "GET", header: http.Header{}}}
			tp.Response(200, http.Header{"Content-Type": {"text/plain"}})
			step := (len(body) + tc.chunks - 1) / tc.chunks
			for i := 0; i < len(body); i += step {
				tp.Write(body[i:min(i+step, len(body))])
			}
			tp.Done(true)
			x := r.build(<-r.queue)
			want := sha256.Sum256(body)
			if x.Answer.SHA256 != hex.EncodeToString(want[:]) || x.Answer.Size != int64(tc.size) ||
				x.Answer.Body.Truncated != tc.wantTruncated || len(x.Answer.Body.Text) != min(tc.size, tc.max) {
				t.Errorf("answer %+v (body %d bytes), want size %d, truncated %v", x.Answer, len(x.Answer.Body.Text), tc.size, tc.wantTruncated)
			}
			r.held.Store(0)
		})
	}
}

// TestMaxPerSecond: a route's max_per_second admits a burst of one second's
// worth and counts the sampled exchanges beyond it as limited, before the
// queue is asked (they are neither queued nor dropped).
func TestMaxPerSecond(t *testing.T) {
	for _, tt := range []struct {
		name         string
		perSecond    float64
		wantAdmitted int
	}{
		// 0.5/s: a burst of 1, the next token two seconds later — far
		// longer than the 20 calls take.
		{"capped", 0.5, 1},
		{"no cap", 0, 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &Recorder{cfg: Config{Pending: 100, PendingBytes: 1 << 30}, queue: make(chan *item, 100)}
			rs := &routeState{cfg: Route{Sample: 1, MaxPerSecond: tt.perSecond}, methods: map[string]bool{http.MethodGet: true}}
			if tt.perSecond > 0 {
				rs.limit = newLimiter(tt.perSecond)
			}
			admitted := 0
			for range 20 {
				if r.admits(rs, httptest.NewRequest(http.MethodGet, "/x", nil)) {
					admitted++
				}
			}
			st := r.Stats()
			if admitted != tt.wantAdmitted || st.Limited != uint64(20-tt.wantAdmitted) || st.Dropped != 0 {
				t.Errorf("admitted %d, stats %+v; want %d admitted, %d limited, none dropped",
					admitted, st, tt.wantAdmitted, 20-tt.wantAdmitted)
			}
		})
	}
}
