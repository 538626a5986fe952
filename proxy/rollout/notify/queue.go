package notify

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// item is one decision, formatted for its target.
type item struct {
	body   []byte
	at     time.Time // when the decision was queued: GiveUpAfter counts from it
	action string    // for logs
}

// queue is one target's ordered, bounded backlog; its sender is the only
// reader.
type queue struct {
	target Target
	name   string // the target as logs and labels show it (scheme://host)

	mu       sync.Mutex
	items    []item
	bytes    int64
	maxItems int
	maxBytes int64
	dropping bool          // a drop was logged; reset once a decision is queued again
	wake     chan struct{} // a buffered signal: something was queued

	// failing is set while the target does not accept; only the sender
	// reads and writes it.
	failing bool

	sent, retried, dropped, failed prometheus.Counter
}

// push appends it unless either bound would be exceeded.
func (q *queue) push(it item) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	size := int64(len(it.body))
	if len(q.items) >= q.maxItems || q.bytes+size > q.maxBytes {
		return false
	}
	q.items = append(q.items, it)
	q.bytes += size
	q.dropping = false
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

// startDropping reports whether this drop starts a run of drops (to log once).
func (q *queue) startDropping() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	first := !q.dropping
	q.dropping = true
	return first
}

// pop waits for the oldest item; false once ctx ends.
func (q *queue) pop(ctx context.Context) (item, bool) {
	for {
		if it, ok := q.tryPop(); ok {
			return it, true
		}
		select {
		case <-ctx.Done():
			return item{}, false
		case <-q.wake:
		}
	}
}

func (q *queue) tryPop() (item, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return item{}, false
	}
	it := q.items[0]
	q.items[0] = item{}
	q.items = q.items[1:]
	q.bytes -= int64(len(it.body))
	return it, true
}

// unshift puts back at the front an item whose delivery was interrupted,
// even past the bounds: it was already accepted.
func (q *queue) unshift(it item) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.items = append([]item{it}, q.items...)
	q.bytes += int64(len(it.body))
}
