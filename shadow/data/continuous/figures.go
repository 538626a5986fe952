package continuous

import (
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ficus-migrate/ficus/internal/metrics"
)

// Finding is one message on FICUS_DATA (subject ficus.data.<name>).
type Finding struct {
	Name string `json:"name"`
	Key  Key    `json:"key"` // see Key
	// Kind is missing_in_new, missing_in_legacy, differs,
	// deleted_on_one_side, or resolved (the key converged after an
	// earlier finding; Previous says which).
	Kind     string       `json:"kind"`
	Previous string       `json:"previous,omitempty"`
	Columns  []ColumnDiff `json:"columns,omitempty"`
	// Reason is the comparator plugin's explanation of a differs finding.
	Reason string `json:"reason,omitempty"`
	// DeletedIn is the side that deleted the key (deleted_on_one_side).
	DeletedIn string `json:"deleted_in,omitempty"`
	// PendingSeconds is how long the sides had disagreed when reported.
	PendingSeconds float64   `json:"pending_seconds,omitempty"`
	Time           time.Time `json:"time"`
}

// ColumnDiff is one differing column pair; values are canonical (legacy
// after its rules), null for SQL NULL.
type ColumnDiff struct {
	Legacy      string  `json:"legacy_column"`
	New         string  `json:"new_column"`
	LegacyValue *string `json:"legacy"`
	NewValue    *string `json:"new"`
}

// Figures are what GET /api/data/{name} answers.
type Figures struct {
	Name            string  `json:"name"`
	KeysSeen        int64   `json:"keys_seen"`
	Matched         int64   `json:"matched"`
	Pending         int64   `json:"pending"`
	MissingInNew    int64   `json:"missing_in_new"`
	MissingInLegacy int64   `json:"missing_in_legacy"`
	Differing       int64   `json:"differing"`
	DeletedOneSide  int64   `json:"deleted_on_one_side"`
	Resolved        int64   `json:"resolved"`
	Dropped         int64   `json:"dropped"`
	Errors          int64   `json:"errors"`
	LagCount        int64   `json:"lag_count"`
	LagP50          float64 `json:"lag_p50_seconds"`
	LagP99          float64 `json:"lag_p99_seconds"`
	LagMax          float64 `json:"lag_max_seconds"`
	// Behind is how long after its commit a change was compared: whether
	// the comparison keeps up with both sides' write rates.
	BehindP50 float64 `json:"behind_p50_seconds"`
	BehindP99 float64 `json:"behind_p99_seconds"`
	BehindMax float64 `json:"behind_max_seconds"`
	// QueryReads is how many times a query side's rows were read again
	// (one query per batch of changed keys); absent without a query side.
	QueryReads int64 `json:"query_reads,omitempty"`
}

// lagBuckets are the upper bounds (seconds) of the lag histogram.
var lagBuckets = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300}

type figures struct {
	mu     sync.Mutex
	counts map[string]int64 // per status
	seen   prometheus.Counter
	// lag of new behind legacy for converged keys
	lag    prometheus.Histogram
	lagH   hist
	behind prometheus.Histogram
	// behindH is read by the API only; the lock is its own, as every change
	// observes it.
	behindMu sync.Mutex
	behindH  hist
	findings *prometheus.CounterVec
	dropped  prometheus.Counter
	errors   prometheus.Counter
	queries  prometheus.Counter
	state    *prometheus.GaugeVec
	// tallies for the API, next to the Prometheus counters
	nSeen, nResolved, nDropped, nErrors, nQueries int64
}

func newFigures(name string, reg prometheus.Registerer) (*figures, error) {
	labels := prometheus.Labels{"compare": name}
	f := &figures{
		counts:  map[string]int64{},
		lagH:    newHist(),
		behindH: newHist(),
		seen: prometheus.NewCounter(prometheus.CounterOpts{Name: "ficus_data_keys_seen_total",
			Help: "Distinct keys seen on either side.", ConstLabels: labels}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ficus_data_lag_seconds",
			Help: "How long new trailed legacy for a key that converged (commit times).", ConstLabels: labels, Buckets: lagBuckets}),
		behind: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ficus_data_behind_seconds",
			Help: "How long after its commit a change was compared.", ConstLabels: labels, Buckets: lagBuckets}),
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ficus_data_findings_total",
			Help: "Findings published on FICUS_DATA, by kind.", ConstLabels: labels}, []string{"kind"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "ficus_data_pending_dropped_total",
			Help: "Disagreeing keys not tracked because the pending set was full.", ConstLabels: labels}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "ficus_data_errors_total",
			Help: "Changes or findings that could not be processed.", ConstLabels: labels}),
		queries: prometheus.NewCounter(prometheus.CounterOpts{Name: "ficus_data_query_reads_total",
			Help: "Queries that read a query side's rows again for a batch of changed keys.", ConstLabels: labels}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ficus_data_keys",
			Help: "Keys by current state: match, pending, or the kind reported.", ConstLabels: labels}, []string{"state"}),
	}
	r := metrics.NewRegistrar(reg)
	f.seen = metrics.Reuse(r, f.seen)
	f.lag = metrics.Reuse(r, f.lag)
	f.behind = metrics.Reuse(r, f.behind)
	f.findings = metrics.Reuse(r, f.findings)
	f.dropped = metrics.Reuse(r, f.dropped)
	f.errors = metrics.Reuse(r, f.errors)
	f.queries = metrics.Reuse(r, f.queries)
	f.state = metrics.Reuse(r, f.state)
	if err := r.Err(); err != nil {
		return nil, err
	}
	return f, nil
}

// move accounts a key going from one status to another ("" is none).
func (f *figures) move(from, to string) {
	if from == to {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if from != "" {
		f.counts[from]--
		f.state.WithLabelValues(from).Set(float64(f.counts[from]))
	}
	if to != "" {
		f.counts[to]++
		f.state.WithLabelValues(to).Set(float64(f.counts[to]))
	}
}

func (f *figures) observeLag(d time.Duration) {
	s := max(d.Seconds(), 0)
	f.lag.Observe(s)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lagH.observe(s)
}

func (f *figures) observeBehind(d time.Duration) {
	s := max(d.Seconds(), 0)
	f.behind.Observe(s)
	f.behindMu.Lock()
	defer f.behindMu.Unlock()
	f.behindH.observe(s)
}

// hist counts observations per lagBuckets bucket for the API's quantiles.
type hist struct {
	counts []int64 // per lagBuckets, plus overflow
	max    float64
}

func newHist() hist { return hist{counts: make([]int64, len(lagBuckets)+1)} }

// bucketOf is the index of the lagBuckets bucket holding s (len(lagBuckets)
// above the highest bound).
func bucketOf(s float64) int { return sort.SearchFloat64s(lagBuckets, s) }

func (h *hist) observe(s float64) {
	h.counts[bucketOf(s)]++
	h.max = max(h.max, s)
}

func (h *hist) total() int64 {
	var n int64
	for _, c := range h.counts {
		n += c
	}
	return n
}

// quantile estimates a quantile as the upper bound of its bucket.
func (h *hist) quantile(q float64) float64 {
	total := h.total()
	if total == 0 {
		return 0
	}
	want := int64(q*float64(total) + 0.5)
	var acc int64
	for i, n := range h.counts {
		if acc += n; acc >= max(want, 1) {
			if i < len(lagBuckets) {
				return min(lagBuckets[i], h.max)
			}
			return h.max
		}
	}
	return h.max
}

func (f *figures) snapshot(name string, pending int) Figures {
	f.behindMu.Lock()
	bp50, bp99, bmax := f.behindH.quantile(0.5), f.behindH.quantile(0.99), f.behindH.max
	f.behindMu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	return Figures{
		Name: name, KeysSeen: f.nSeen,
		Matched: f.counts[statusMatch], Pending: f.counts[statusPending],
		MissingInNew: f.counts[KindMissingInNew], MissingInLegacy: f.counts[KindMissingInLegacy],
		Differing: f.counts[KindDiffers], DeletedOneSide: f.counts[KindDeletedOneSide],
		Resolved: f.nResolved, Dropped: f.nDropped, Errors: f.nErrors,
		LagCount: f.lagH.total(), LagP50: f.lagH.quantile(0.5), LagP99: f.lagH.quantile(0.99), LagMax: f.lagH.max,
		BehindP50: bp50, BehindP99: bp99, BehindMax: bmax, QueryReads: f.nQueries,
	}
}

// count adds one to a tally and its counter.
func (f *figures) count(n *int64, c prometheus.Counter) {
	f.mu.Lock()
	*n++
	f.mu.Unlock()
	c.Inc()
}

// Handler serves GET /api/data/{name} for the given comparers.
func Handler(comparers map[string]*Comparer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := comparers[r.PathValue("name")]
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "no compare_data named " + r.PathValue("name")})
			return
		}
		_ = json.NewEncoder(w).Encode(c.Figures())
	})
}

// pendingSet holds the keys waiting for max_lag, due in insertion order
// (every key waits the same max_lag), bounded by max.
type pendingSet struct {
	mu    sync.Mutex
	max   int
	at    map[Key]time.Time
	queue []pendingEntry
}

type pendingEntry struct {
	key Key
	at  time.Time
}

func newPendingSet(max int) *pendingSet {
	return &pendingSet{max: max, at: map[Key]time.Time{}}
}

func (p *pendingSet) add(key Key, at time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.at[key]; !ok && len(p.at) >= p.max {
		return false
	}
	p.at[key] = at
	p.queue = append(p.queue, pendingEntry{key, at})
	return true
}

func (p *pendingSet) remove(key Key) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.at, key) // its queue entry is skipped when it comes up
}

// postpone moves every key due before until to until, and returns how
// many waiting keys there are.
func (p *pendingSet) postpone(until time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	queue := make([]pendingEntry, 0, len(p.at))
	for _, e := range p.queue {
		if at, ok := p.at[e.key]; !ok || !at.Equal(e.at) {
			continue // a stale entry: the key was removed or added again
		}
		if e.at.Before(until) {
			e.at = until
			p.at[e.key] = until
		}
		queue = append(queue, e)
	}
	sort.SliceStable(queue, func(i, j int) bool { return queue[i].at.Before(queue[j].at) })
	p.queue = queue
	return len(p.at)
}

// due pops the keys due at now.
func (p *pendingSet) due(now time.Time) []Key {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Key
	i := 0
	for ; i < len(p.queue) && !p.queue[i].at.After(now); i++ {
		e := p.queue[i]
		if at, ok := p.at[e.key]; ok && at.Equal(e.at) {
			out = append(out, e.key)
			delete(p.at, e.key)
		}
	}
	p.queue = append(p.queue[:0:0], p.queue[i:]...)
	return out
}

func (p *pendingSet) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.at)
}
