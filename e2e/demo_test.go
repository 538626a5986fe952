package e2e

import (
	"bytes"
	"context"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFicusDemo runs a short `ficus demo` while the
// standard ports are held, and checks that the summary carries real figures
// read from a running ficus and that nothing is left running afterwards.
func TestFicusDemo(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts PostgreSQL, MariaDB and ficus")
	}
	// Hold the defaults where they are free; where something else already
	// listens, that is the point too.
	for _, addr := range []string{"127.0.0.1:8080", "127.0.0.1:9901", "127.0.0.1:4222"} {
		if l, err := net.Listen("tcp", addr); err == nil {
			t.Cleanup(func() { l.Close() })
		}
	}
	var out bytes.Buffer
	began := time.Now()
	code := runFicus(context.Background(), t, &out, &out, "demo", "--duration", "8s", "--data", t.TempDir())
	text := out.String()
	if code != 0 {
		t.Fatalf("demo exit %d:\n%s", code, text)
	}
	t.Logf("demo took %s", time.Since(began).Round(time.Millisecond))

	for _, port := range []string{":8080 ", ":9901 ", ":4222 "} {
		if strings.Contains(text, "127.0.0.1"+port) {
			t.Errorf("demo printed the taken port %s:\n%s", port, text)
		}
	}
	statusLines := regexp.MustCompile(`(?m)^\[00:\d\d\] weight \d+% `).FindAllString(text, -1)
	if len(statusLines) < 6 {
		t.Errorf("want a status line per second for 8s, got %d:\n%s", len(statusLines), text)
	}
	// Each figure must be a real count above zero.
	for _, tc := range []struct {
		name string
		re   string
	}{
		{"requests", `Traffic through ficus: (\d+) requests`},
		{"orders", `requests \(\d+ errors, \d+ 4xx, \d+ 5xx\), (\d+) orders`},
		{"shadow compared", `Shadow comparison of GET /api/orders\*: (\d+) compared`},
		{"shop CDC events", `Change data capture: (\d+) events from the shop's MariaDB`},
		{"orders_svc CDC events", `, (\d+) from the orders service's PostgreSQL`},
		{"reconciled rows", `(\d+) rows in shop\.orders`},
	} {
		m := regexp.MustCompile(tc.re).FindStringSubmatch(text)
		if m == nil {
			t.Errorf("%s: no match for %q in:\n%s", tc.name, tc.re, text)
			continue
		}
		if n, _ := strconv.Atoi(m[1]); n <= 0 {
			t.Errorf("%s: got %d, want > 0", tc.name, n)
		}
	}
	for _, want := range []string{
		"Rollout of orders-read: stopped at ",
		"  why: ",
		"Dashboard: http://127.0.0.1:",
		"Stopped ficus, the shop and the new orders service; PostgreSQL and MariaDB stopped by PID",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q:\n%s", want, text)
		}
	}
	// Once a step was judged, the summary gives the data gate's last verdict.
	if strings.Contains(text, "rollout promote") || strings.Contains(text, "rollout rollback") {
		if !regexp.MustCompile(`\n    gate orders \(data\): (pass|fail|hold), `).MatchString(text) {
			t.Errorf("the summary lacks the data gate's last verdict:\n%s", text)
		}
	}
	// Rows in both tables must be the same orders (the dual write).
	if m := regexp.MustCompile(`(\d+) rows in shop\.orders, (\d+) in public\.orders`).FindStringSubmatch(text); m != nil && m[1] != m[2] {
		t.Errorf("reconcile: %s legacy rows vs %s new rows", m[1], m[2])
	}
	// The database servers are gone.
	for _, m := range regexp.MustCompile(`\(pid (\d+)\)`).FindAllStringSubmatch(text, -1) {
		pid, _ := strconv.Atoi(m[1])
		if b, err := os.ReadFile("/proc/" + m[1] + "/stat"); err == nil && !isZombie(b) {
			t.Errorf("process %d still runs after the demo", pid)
		}
	}
}

// isZombie reads the state field of /proc/PID/stat.
func isZombie(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && (stat[i+2] == 'Z' || stat[i+2] == 'X')
}
