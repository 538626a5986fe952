package demo

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// routeName is the route the demo migrates.
const (
	routeName   = "orders-read"
	compareName = "orders"
)

// setup is what the demo's ficus.yaml is written from.
type setup struct {
	dir                string
	proxy, admin, nats string // host:port
	shopURL, ordersURL string
	shopDSN, ordersDSN string
	verbose            bool
	duration           time.Duration
}

// rolloutTiming scales the rollout to the demo's length: four steps, each
// held for a sixth of the run, so that a healthy service would reach 100 %
// about two thirds in.
func (s setup) rolloutTiming() (interval time.Duration, minRequests int) {
	interval = max((s.duration / 6).Round(100*time.Millisecond), 2*time.Second)
	minRequests = 10
	if s.duration < 45*time.Second {
		minRequests = 5
	}
	return interval, minRequests
}

// configTemplate is the whole ficus.yaml of the demo: the same file a
// team would write, so it is printed and kept for `--keep`.
const configTemplate = `# ficus demo: the legacy shop behind ficus, /api/orders reads rolled out to the new service.
log:
  level: %[1]s

nats:
  embedded:
    listen: %[2]s
    store_dir: %[3]s

admin:
  listen: %[4]s

proxy:
  listen: %[5]s
  mode: reverse
  legacy: %[6]s                     # the legacy shop (MariaDB)
  served_by_header: true
  routes:
    - name: %[7]s
      match: {path_prefix: /api/orders, methods: [GET, HEAD]}
      new: %[8]s                     # the new orders service (PostgreSQL)
      sticky: header:X-Customer-Id
      shadow: {enabled: true, sample: 1.0, timeout: 2s}
      compare: {headers: [Content-Type]}
      rollout:
        steps: [5, 25, 50, 100]
        interval: %[9]s
        min_requests: %[10]d
        max_mismatch_rate: 0.01
        max_error_rate_delta: 0.02
        max_p99_ratio: 20
        on_failure: rollback
        gates:                          # the databases must agree too (compare_data orders, below)
          data: [{compare: %[13]s, max_differ_rate: 0.01, max_missing_rate: 0.01, max_behind_seconds: 10}]

shadow:
  workers: 8
  queue: 10000

capture:
  sources:
    - name: shop
      type: mysql
      dsn: %[11]s
      tables: [shop.orders]
      server_id: 4001
    - name: orders_svc
      type: postgres
      dsn: %[12]s
      tables: [public.orders]

compare_data:
  - name: %[13]s
    legacy: {source: shop, table: shop.orders, key: [id]}
    new: {source: orders_svc, table: public.orders, key: [legacy_id]}
    columns:
      status: state
      amount: total
      customer_id: customer_ref
    rules:
      - {column: amount, scale: 100}            # the new service stores cents
      - {column: status, map: {NEW: created, PAID: paid}}
    max_lag: 3s
`

// writeConfig writes ficus.yaml into the demo's directory.
func (s setup) writeConfig() (string, error) {
	level := "warn"
	if s.verbose {
		level = "info"
	}
	interval, minRequests := s.rolloutTiming()
	yaml := fmt.Sprintf(configTemplate, level, s.nats, strconv.Quote(filepath.Join(s.dir, "nats")), s.admin,
		s.proxy, s.shopURL, routeName, s.ordersURL, interval, minRequests,
		strconv.Quote(s.shopDSN), strconv.Quote(s.ordersDSN), compareName)
	path := filepath.Join(s.dir, "ficus.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}
