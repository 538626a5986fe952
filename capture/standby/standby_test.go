package standby

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ficus-migrate/ficus/internal/testenv"
)

// spell records when the wrapped source ran: the standby's whole job is to
// start and stop it, so the source itself is only a clock.
type spell struct{ from, to time.Time }

type recorder struct {
	mu     sync.Mutex
	spells []spell
}

func (r *recorder) Run(ctx context.Context) error {
	r.mu.Lock()
	r.spells = append(r.spells, spell{from: time.Now()})
	r.mu.Unlock()
	<-ctx.Done()
	r.mu.Lock()
	r.spells[len(r.spells)-1].to = time.Now()
	r.mu.Unlock()
	return nil
}

func (r *recorder) running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.spells) > 0 && r.spells[len(r.spells)-1].to.IsZero()
}

func (r *recorder) copy() []spell {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]spell(nil), r.spells...)
}

type member struct {
	sb   *Standby
	src  *recorder
	reg  *prometheus.Registry
	stop context.CancelFunc
	done chan error
}

func join(t *testing.T, nc *nats.Conn, instance string, ttl time.Duration) *member {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	m := &member{src: &recorder{}, reg: prometheus.NewRegistry(), done: make(chan error, 1)}
	m.sb, err = New(Config{Source: "pg", Instance: instance, JS: js, LeaseTTL: ttl, Registerer: m.reg}, m.src)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	m.stop = cancel
	go func() { m.done <- m.sb.Run(ctx) }()
	t.Cleanup(func() { cancel(); _ = <-m.done })
	return m
}

func (m *member) active(t *testing.T) float64 {
	t.Helper()
	return testutil.ToFloat64(m.sb.active)
}

// waitFor polls cond; the bound only proves the wait ends.
func waitFor(t *testing.T, what string, cond func() bool) time.Time {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Now()
}

// One of two processes streams, the other waits and says so in its state
// and metric; a clean stop hands over at once (the lease is released).
func TestOneStreamsTheOtherWaits(t *testing.T) {
	t.Parallel()
	n := testenv.MustStartNATS(t)
	const ttl = time.Second
	a := join(t, n.Connect(t), "a", ttl)
	waitFor(t, "a streams", a.src.running)
	b := join(t, n.Connect(t), "b", ttl)
	waitFor(t, "b has read the lease", func() bool { return b.sb.State().Holder == "a" })
	time.Sleep(2 * ttl) // a renews: b never starts
	if b.src.running() || len(b.src.copy()) != 0 {
		t.Fatal("the standby streamed while the holder renewed")
	}
	if st := a.sb.State(); !st.Active || st.Instance != "a" || st.Holder != "a" {
		t.Fatalf("holder state %+v", st)
	}
	if st := b.sb.State(); st.Active || st.Instance != "b" {
		t.Fatalf("standby state %+v", st)
	}
	if a.active(t) != 1 || b.active(t) != 0 {
		t.Fatalf("ficus_capture_active: holder %v, standby %v", a.active(t), b.active(t))
	}
	a.stop()
	if err := <-a.done; err != nil {
		t.Fatal(err)
	}
	a.done <- nil // for the cleanup
	stopped := a.src.copy()[0].to
	took := waitFor(t, "b takes over", b.src.running).Sub(stopped)
	// A released lease is taken at b's next tick, not after a TTL.
	if took >= ttl {
		t.Fatalf("b took over %v after a clean stop; a released lease must not wait out the TTL (%v)", took, ttl)
	}
}

// Fencing: a holder cut off from NATS stops streaming before the standby
// starts; the standby takes over after the TTL.
func TestCutOffHolderStopsBeforeTakeover(t *testing.T) {
	t.Parallel()
	n := testenv.MustStartNATS(t)
	const ttl = 2 * time.Second
	ncA := n.Connect(t, nats.MaxReconnects(-1))
	a := join(t, ncA, "a", ttl)
	waitFor(t, "a streams", a.src.running)
	b := join(t, n.Connect(t), "b", ttl)
	waitFor(t, "b has read the lease", func() bool { return b.sb.State().Holder == "a" })

	// Cut a off: its renewals fail from now on (the connection is gone),
	// as a NATS partition would make them.
	cut := time.Now()
	ncA.Close()
	waitFor(t, "b takes over", b.src.running)
	aSpells, bSpells := a.src.copy(), b.src.copy()
	if len(aSpells) != 1 || aSpells[0].to.IsZero() {
		t.Fatalf("a's runs after it was cut off: %+v", aSpells)
	}
	if !aSpells[0].to.Before(bSpells[0].from) {
		t.Fatalf("a stopped at %v, after b started at %v: both streamed", aSpells[0].to, bSpells[0].from)
	}
	t.Logf("a stopped %v after the cut, b started %v after it (TTL %v)",
		aSpells[0].to.Sub(cut), bSpells[0].from.Sub(cut), ttl)
	if a.active(t) != 0 || a.sb.State().Active {
		t.Fatal("the cut-off holder still says it is active")
	}
}

// A holder that finds the key naming another process (it was taken over
// while this one was paused, say) stops streaming at that tick, without
// waiting for its own renewal to lapse.
func TestHolderThatSeesAnotherHolderStops(t *testing.T) {
	t.Parallel()
	n := testenv.MustStartNATS(t)
	const ttl = 2 * time.Second
	nc := n.Connect(t)
	a := join(t, nc, "a", ttl)
	waitFor(t, "a streams", a.src.running)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(t.Context(), "ficus_checkpoints")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(t.Context(), LeaseKey("pg"), []byte(`{"holder":"x"}`)); err != nil {
		t.Fatal(err)
	}
	taken := time.Now()
	stopped := waitFor(t, "a stops", func() bool { return !a.src.running() })
	t.Logf("a stopped %v after the key named another holder", stopped.Sub(taken))
	if st := a.sb.State(); st.Active || st.Holder != "x" || a.active(t) != 0 {
		t.Fatalf("after the takeover: %+v, ficus_capture_active %v", st, a.active(t))
	}
}
