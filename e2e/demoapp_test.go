package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/internal/testenv"
)

// `ficus demo-app shop|orders`, as the compose trial runs them: real
// processes over real MariaDB and PostgreSQL that create their tables, take
// an order through the shop, forward it to the new service, and answer it
// alike from both. A second start finds the tables and keeps the data.
func TestDemoAppProcesses(t *testing.T) {
	t.Parallel()
	bin := buildFicus(t)
	maria, pg := testenv.MustStartMariaDB(t), testenv.MustStartPostgres(t)
	shopDSN := maria.DSN()
	ordersAddr, shopAddr := freeAddr(t), freeAddr(t)
	start := func(args ...string) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"demo-app"}, args...)...)
		out, _ := cmd.StdoutPipe()
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		var logs strings.Builder
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || !strings.Contains(line, "serving on") {
			t.Fatalf("demo-app %v: %q %v\n%s", args, line, err, logs.String())
		}
	}
	for round := range 2 {
		ordersPort, shopPort := freeAddr(t), freeAddr(t)
		if round == 0 {
			ordersPort, shopPort = ordersAddr, shopAddr
		}
		start("orders", "--listen", ordersPort, "--dsn", pg.DSN())
		start("shop", "--listen", shopPort, "--dsn", shopDSN, "--new", "http://"+ordersPort, "--customers", "5")
		if round == 0 {
			resp, err := http.Post("http://"+shopPort+"/api/orders", "application/json",
				strings.NewReader(`{"customer_id":3,"items":[{"sku":"TEA-01","qty":2}]}`))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				t.Fatalf("POST /api/orders: %d %s", resp.StatusCode, body)
			}
		}
		get := func(addr string) map[string]any {
			t.Helper()
			var v map[string]any
			deadline := time.Now().Add(5 * time.Second)
			for {
				resp, err := http.Get("http://" + addr + "/api/orders/1")
				if err == nil {
					err = json.NewDecoder(resp.Body).Decode(&v)
					resp.Body.Close()
					if err == nil && resp.StatusCode == http.StatusOK {
						return v
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("GET %s/api/orders/1: %v %v", addr, err, v)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		shop, orders := get(shopPort), get(ordersPort)
		if fmt.Sprint(shop) != fmt.Sprint(orders) || shop["customer_id"] != float64(3) {
			t.Fatalf("round %d: the shop answers %v, the new service %v", round, shop, orders)
		}
	}
}
