package apps

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// TrafficConfig configures the traffic driver.
type TrafficConfig struct {
	// BaseURL is where the shop is reached: ficus's proxy.
	BaseURL string
	// Customers is the number of customers (ids 1..Customers) [300].
	Customers int
	// Rate is the requests per second [40]; Workers bounds the requests in
	// flight [16] (a tick finding all busy is skipped and counted).
	Rate    float64
	Workers int
	// Coupons says whether the coupon campaign is on: then 70 % of the new
	// orders use the coupon. Nil: never.
	Coupons func() bool
	// Quiet is how long a customer's orders are neither read after a write
	// nor written after a read [3s]. A mirrored request reaches the other
	// side a little later than the served one; without the pause a read
	// racing a write would differ for a reason that is not a bug.
	Quiet time.Duration
	// Client [a client with a 5 s timeout].
	Client *http.Client
	// Seed makes the traffic repeatable.
	Seed uint64
}

// TrafficStats are the driver's client-side counts.
type TrafficStats struct {
	Requests, Errors, Status4xx, Status5xx, Skipped int64
	// ServedLegacy and ServedNew count the answers by ficus's
	// Ficus-Served-By header.
	ServedLegacy, ServedNew    int64
	Orders, CouponOrders, Paid int64
}

// Traffic plays the shop's customers: it browses orders, places orders
// (some with the coupon while the campaign is on), pays some, and looks at
// customer pages; every request carries X-Customer-Id.
type Traffic struct {
	cfg TrafficConfig

	mu        sync.Mutex
	rnd       *rand.Rand
	customers []customerState

	requests, errors, s4xx, s5xx, skipped atomic.Int64
	legacy, new                           atomic.Int64
	orders, coupons, paid                 atomic.Int64
}

type customerState struct {
	orders    []int64 // ids, oldest first
	unpaid    []int64
	lastRead  time.Time
	lastWrite time.Time
	writing   bool
}

// NewTraffic returns a driver; Run drives it.
func NewTraffic(cfg TrafficConfig) *Traffic {
	if cfg.Customers <= 0 {
		cfg.Customers = 300
	}
	if cfg.Rate <= 0 {
		cfg.Rate = 40
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 16
	}
	if cfg.Quiet <= 0 {
		cfg.Quiet = 3 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 5 * time.Second}
	}
	if cfg.Coupons == nil {
		cfg.Coupons = func() bool { return false }
	}
	return &Traffic{cfg: cfg, rnd: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed)),
		customers: make([]customerState, cfg.Customers+1)}
}

// Stats returns the counts so far.
func (t *Traffic) Stats() TrafficStats {
	return TrafficStats{
		Requests: t.requests.Load(), Errors: t.errors.Load(), Status4xx: t.s4xx.Load(), Status5xx: t.s5xx.Load(),
		Skipped: t.skipped.Load(), ServedLegacy: t.legacy.Load(), ServedNew: t.new.Load(),
		Orders: t.orders.Load(), CouponOrders: t.coupons.Load(), Paid: t.paid.Load(),
	}
}

// Run sends requests at the configured rate until ctx ends, then waits for
// the requests in flight to finish.
func (t *Traffic) Run(ctx context.Context) {
	tick := time.NewTicker(time.Duration(float64(time.Second) / t.cfg.Rate))
	defer tick.Stop()
	sem := make(chan struct{}, t.cfg.Workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		select {
		case sem <- struct{}{}:
		default:
			t.skipped.Add(1)
			continue
		}
		op := t.next()
		wg.Go(func() {
			defer func() { <-sem }()
			// A request already sent finishes (within the client's timeout)
			// after ctx ends: cutting it off half-way would leave a write
			// on one side only, which is not the story the demo tells.
			op(context.WithoutCancel(ctx))
		})
	}
}

// next picks the next request and reserves its customer.
func (t *Traffic) next() func(context.Context) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	roll := t.rnd.IntN(100)
	for range 8 {
		cid := int64(1 + t.rnd.IntN(t.cfg.Customers))
		c := &t.customers[cid]
		canRead := !c.writing && now.Sub(c.lastWrite) > t.cfg.Quiet && len(c.orders) > 0
		canWrite := !c.writing && now.Sub(c.lastRead) > t.cfg.Quiet
		switch {
		case roll < 40 && canRead:
			c.lastRead = now
			// Mostly recent orders, as customers look at what they just bought.
			id := c.orders[max(0, len(c.orders)-1-t.rnd.IntN(3))]
			return func(ctx context.Context) { t.get(ctx, cid, "/api/orders/"+strconv.FormatInt(id, 10)) }
		case roll < 60 && roll >= 40 && canRead:
			c.lastRead = now
			return func(ctx context.Context) { t.get(ctx, cid, "/api/orders?customer_id="+strconv.FormatInt(cid, 10)) }
		case roll >= 60 && roll < 80 && canWrite:
			c.writing = true
			return func(ctx context.Context) { t.create(ctx, cid) }
		case roll >= 80 && roll < 90 && canWrite && len(c.unpaid) > 0:
			c.writing = true
			id := c.unpaid[0]
			c.unpaid = c.unpaid[1:]
			return func(ctx context.Context) { t.pay(ctx, cid, id) }
		}
		if roll < 60 && !canRead && canWrite && len(c.orders) == 0 {
			// A customer without orders places one rather than browse.
			c.writing = true
			return func(ctx context.Context) { t.create(ctx, cid) }
		}
	}
	cid := int64(1 + t.rnd.IntN(t.cfg.Customers))
	return func(ctx context.Context) { t.get(ctx, cid, "/api/customers/"+strconv.FormatInt(cid, 10)) }
}

func (t *Traffic) wrote(cid, created int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := &t.customers[cid]
	c.writing = false
	c.lastWrite = time.Now()
	if created > 0 {
		c.orders = append(c.orders, created)
		c.unpaid = append(c.unpaid, created)
	}
}

func (t *Traffic) get(ctx context.Context, cid int64, path string) {
	_, _ = t.do(ctx, cid, http.MethodGet, path, nil)
}

func (t *Traffic) create(ctx context.Context, cid int64) {
	var created int64
	defer func() { t.wrote(cid, created) }()
	t.mu.Lock()
	n := 1 + t.rnd.IntN(4)
	order := NewOrder{CustomerID: cid}
	for range n {
		order.Items = append(order.Items, Item{SKU: SKUs[t.rnd.IntN(len(SKUs))], Qty: int64(1 + t.rnd.IntN(3))})
	}
	coupon := t.rnd.IntN(10) < 7
	t.mu.Unlock()
	if coupon && t.cfg.Coupons() {
		order.Coupon = Coupon
	}
	body, _ := json.Marshal(order) // plain structs: cannot fail
	b, ok := t.do(ctx, cid, http.MethodPost, "/api/orders", body)
	if !ok {
		return
	}
	var o Order
	if json.Unmarshal(b, &o) == nil && o.ID > 0 {
		created = o.ID
		t.orders.Add(1)
		if o.Coupon != "" {
			t.coupons.Add(1)
		}
	}
}

func (t *Traffic) pay(ctx context.Context, cid, id int64) {
	defer t.wrote(cid, 0)
	if _, ok := t.do(ctx, cid, http.MethodPost, "/api/orders/"+strconv.FormatInt(id, 10)+"/pay", nil); ok {
		t.paid.Add(1)
	}
}

// do sends one request and counts its outcome; ok is a 2xx answer.
func (t *Traffic) do(ctx context.Context, cid int64, method, path string, body []byte) ([]byte, bool) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.cfg.BaseURL+path, rd)
	if err != nil {
		t.errors.Add(1)
		return nil, false
	}
	req.Header.Set("X-Customer-Id", strconv.FormatInt(cid, 10))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	t.requests.Add(1)
	resp, err := t.cfg.Client.Do(req)
	if err != nil {
		t.errors.Add(1)
		return nil, false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.errors.Add(1)
		return nil, false
	}
	switch resp.Header.Get("Ficus-Served-By") {
	case "new":
		t.new.Add(1)
	case "legacy":
		t.legacy.Add(1)
	}
	switch resp.StatusCode / 100 {
	case 2:
		return b, true
	case 4:
		t.s4xx.Add(1)
	case 5:
		t.s5xx.Add(1)
	}
	return b, false
}

// String is a one-line summary of the counts.
func (s TrafficStats) String() string {
	return fmt.Sprintf("%d requests (%d errors, %d 4xx, %d 5xx), %d orders (%d with the coupon), %d paid",
		s.Requests, s.Errors, s.Status4xx, s.Status5xx, s.Orders, s.CouponOrders, s.Paid)
}
