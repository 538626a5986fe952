package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// itemService answers GET /items/{n} with the item and two noisy fields, a
// random id and a timestamp, like a legacy service does; plant, if set,
// changes the answer for some items. It answers 401 unless the request
// carries the bearer token wantAuth.
func itemService(wantAuth string, plant func(n int, v map[string]any)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+wantAuth {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/items/"))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		v := map[string]any{"id": rand.Uint64(), "ts": time.Now().UnixNano(), "item": n,
			"name": fmt.Sprintf("item-%d", n), "price": n * 10}
		if plant != nil {
			plant(n, v)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
}

// planted: items 0 and 1 of every hundred have another price, item 2 has
// no name: 3 % of the requests, in two signatures.
func planted(n int, v map[string]any) {
	switch n % 100 {
	case 0, 1:
		v["price"] = n*10 + 1
	case 2:
		delete(v, "name")
	}
}

// TestReplay records 400 GETs of a noisy legacy service, secrets in the
// Authorization header and the api_token parameter, through a real proxy
// to a real JetStream, and replays them: against an equal service (noise
// learnt from a second legacy) every answer matches; against one with 3 %
// planted differences exactly those two signatures come out, with their
// counts, in the report and the JUnit XML. The staging token reaches the
// new service only because Config.Header restores it.
func TestReplay(t *testing.T) {
	t.Parallel()
	const n = 400
	legacy := serve(t, itemService("s3cret-prod-token", nil))
	rec := startRecorder(t, legacy)
	auth := http.Header{"Authorization": {"Bearer s3cret-prod-token"}}
	for i := range n {
		rec.do(t, "GET", fmt.Sprintf("/items/%d?api_token=s3cret-q-%d&v=1", i, i), "", auth)
	}
	xs := rec.read(t, n)
	for _, x := range xs {
		if b, _ := json.Marshal(x); bytes.Contains(b, []byte("s3cret")) {
			t.Fatalf("recorded exchange holds a secret: %s", b)
		}
	}
	legacy2 := serve(t, itemService("staging-token", nil))
	staging := http.Header{"Authorization": {"Bearer staging-token"}}
	ctx := context.Background()

	t.Run("equal", func(t *testing.T) {
		equal := serve(t, itemService("staging-token", nil))
		res, err := Run(ctx, Config{Route: "r", To: equal, NoiseFrom: legacy2, Header: staging, RedactKey: testKey}, xs)
		must(t, err)
		if res.Replayed != n || res.Matched != n || res.MatchRate() != 1 {
			t.Errorf("replayed %d, matched %d, rate %v; want all %d (noise %v, first diffs %v)",
				res.Replayed, res.Matched, res.MatchRate(), n, res.Noise, firstDiffs(res))
		}
		if !slices.Equal(res.Noise, []string{"$.id", "$.ts"}) {
			t.Errorf("noise %v, want $.id and $.ts", res.Noise)
		}
	})
	t.Run("planted", func(t *testing.T) {
		diverged := serve(t, itemService("staging-token", planted))
		res, err := Run(ctx, Config{Route: "r", To: diverged, NoiseFrom: legacy2, Header: staging, RedactKey: testKey,
			Concurrency: 8}, xs)
		must(t, err)
		groups := map[string]int{}
		for _, g := range res.Report().Routes[0].Groups {
			groups[g.Signature] = g.Count
		}
		want := map[string]int{"$.price": 8, "$.name": 4}
		if fmt.Sprint(groups) != fmt.Sprint(want) || res.Mismatched != 12 || res.Summary(0.99).Passed {
			t.Errorf("groups %v, mismatched %d, passed %v; want %v, 12, false", groups, res.Mismatched, res.Summary(0.99).Passed, want)
		}
		var buf bytes.Buffer
		must(t, res.JUnit(&buf, 0.99))
		var doc junitSuites
		must(t, xml.Unmarshal(buf.Bytes(), &doc))
		var failed []string
		for _, c := range doc.Suites[0].Cases {
			if c.Failure != nil {
				failed = append(failed, c.Name)
			}
		}
		slices.Sort(failed)
		if fmt.Sprint(failed) != "[match rate >= 0.99 signature $.name signature $.price]" || doc.Failures != 3 {
			t.Errorf("JUnit failures %v (%d):\n%s", failed, doc.Failures, buf.String())
		}
		if !res.Summary(0.97).Passed {
			t.Errorf("match rate %v fails 0.97", res.MatchRate())
		}
	})
	t.Run("secrets only from Header", func(t *testing.T) {
		equal := serve(t, itemService("staging-token", nil))
		res, err := Run(ctx, Config{Route: "r", To: equal, RedactKey: testKey}, xs[:50])
		must(t, err)
		if res.Matched != 0 || res.Report().Routes[0].Groups[0].Example.New.Status != http.StatusUnauthorized {
			t.Errorf("%d matched without the token: a recorded secret was sent", res.Matched)
		}
	})
}

func firstDiffs(r *Result) []string {
	var out []string
	for _, o := range r.Outcomes {
		for _, d := range o.Diffs {
			out = append(out, d.Path+" "+d.Kind)
		}
		if len(out) > 5 {
			break
		}
	}
	return out
}

// sessionService keeps each user's item in its own memory (its database):
// POST /items stores the body for the X-User, GET /me returns it.
func sessionService() http.HandlerFunc {
	var mu sync.Mutex
	db := map[string]string{}
	return func(w http.ResponseWriter, r *http.Request) {
		user := r.Header.Get("X-User")
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.Method == "POST" && r.URL.Path == "/items":
			var b bytes.Buffer
			_, _ = b.ReadFrom(r.Body)
			db[user] = b.String()
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, "stored for %s\n", user)
		case r.Method == "GET" && r.URL.Path == "/me":
			v, ok := db[user]
			if !ok {
				http.NotFound(w, r)
				return
			}
			fmt.Fprintf(w, "%s has %s\n", user, v)
		default:
			http.NotFound(w, r)
		}
	}
}

// TestReplayWrites: each user POSTs, GETs, POSTs again and GETs again; the
// replay against a new service with its own empty database sends a user's
// requests in recorded order with AllowWrites (every GET matches, however
// many run at once), and no POST at all without it.
func TestReplayWrites(t *testing.T) {
	t.Parallel()
	const users = 30
	rec := startRecorder(t, serve(t, sessionService()))
	for u := range users {
		h := http.Header{"X-User": {fmt.Sprintf("user-%d", u)}}
		rec.do(t, "POST", "/items", "first", h)
		rec.do(t, "GET", "/me", "", h)
		rec.do(t, "POST", "/items", "second", h)
		rec.do(t, "GET", "/me", "", h)
	}
	xs := rec.read(t, 4*users)
	res, err := Run(context.Background(), Config{Route: "r", To: serve(t, sessionService()), AllowWrites: true,
		Concurrency: 16, RedactKey: testKey}, xs)
	must(t, err)
	if res.Replayed != 4*users || res.Matched != 4*users {
		t.Errorf("with writes: replayed %d, matched %d; want %d (%v)", res.Replayed, res.Matched, 4*users, firstDiffs(res))
	}
	res, err = Run(context.Background(), Config{Route: "r", To: serve(t, sessionService()), RedactKey: testKey}, xs)
	must(t, err)
	if res.Skipped != 2*users || res.Replayed != 2*users || res.Matched != 0 {
		t.Errorf("without writes: skipped %d, replayed %d, matched %d; want %d, %d, 0", res.Skipped, res.Replayed, res.Matched, 2*users, 2*users)
	}
}

// fakeClock stands still and writes down when each send is due.
type fakeClock struct {
	now time.Time
	mu  sync.Mutex
	due []time.Duration
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.due = append(c.due, max(d, 0))
	return nil
}

// TestPacing checks the schedule the pacer hands out, with a clock that
// stands still: at a rate, every second of the schedule holds exactly the
// rate's sends, however many workers ask at once; at a speed, each send is
// due at its recorded offset divided by the speed.
func TestPacing(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name    string
		pace    Pace
		gap     time.Duration // between recorded exchanges
		n       int
		perSec  int           // sends due in each whole second (rate)
		lastDue time.Duration // of the last send (speed)
	}{
		{"rate 100/s", Pace{Rate: 100}, time.Millisecond, 500, 100, 0},
		{"rate 7/s", Pace{Rate: 7}, time.Millisecond, 70, 7, 0},
		{"speed 2x", Pace{Speed: 2}, 100 * time.Millisecond, 41, 0, 2 * time.Second},
		{"speed 0.5x", Pace{Speed: 0.5}, 10 * time.Millisecond, 11, 0, 200 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &fakeClock{now: t0}
			p := newPacer(tt.pace, c, t0)
			var wg sync.WaitGroup
			var order sync.Mutex
			next := 0
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						order.Lock()
						i := next
						next++
						if i >= tt.n {
							order.Unlock()
							return
						}
						// The pacer is asked in recorded order, as lanes are.
						_ = p.wait(context.Background(), t0.Add(time.Duration(i)*tt.gap))
						order.Unlock()
					}
				}()
			}
			wg.Wait()
			if len(c.due) != tt.n {
				t.Fatalf("%d sends paced, want %d", len(c.due), tt.n)
			}
			if tt.perSec > 0 {
				buckets := map[int]int{}
				for _, d := range c.due {
					buckets[int(d/time.Second)]++
				}
				for s, got := range buckets {
					if got != tt.perSec {
						t.Errorf("second %d holds %d sends, want %d (%v)", s, got, tt.perSec, buckets)
					}
				}
				return
			}
			if got := c.due[len(c.due)-1]; got != tt.lastDue {
				t.Errorf("last send due at %v, want %v", got, tt.lastDue)
			}
		})
	}
}

func TestParseRateSpeed(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"200/s", 200, true}, {"120/m", 2, true}, {"50", 50, true}, {"0/s", 0, false}, {"fast", 0, false}, {"5/d", 0, false}, {"NaN/s", 0, false}, {"Inf", 0, false},
	} {
		got, err := ParseRate(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseRate(%q) = %v, %v", tt.in, got, err)
		}
	}
	for _, tt := range []struct {
		in   string
		want float64
		ok   bool
	}{{"2x", 2, true}, {"0.5x", 0.5, true}, {"3", 3, true}, {"-1x", 0, false}, {"x", 0, false}, {"NaNx", 0, false}, {"+Infx", 0, false}} {
		got, err := ParseSpeed(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseSpeed(%q) = %v, %v", tt.in, got, err)
		}
	}
}
