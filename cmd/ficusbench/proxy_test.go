package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestRatiosAgainstEachReference(t *testing.T) {
	rows := []row{
		{Name: "nginx", Result: wrkResult{ReqPerSec: 40000, P99ms: 4}},
		{Name: "caddy", Result: wrkResult{ReqPerSec: 10000, P99ms: 8}},
		{Name: "ficus-1", Result: wrkResult{ReqPerSec: 20000, P99ms: 8}},
	}
	ratios(rows)
	f1 := rows[2]
	if f1.RPSRatio != 0.5 || f1.P99Ratio != 2 || f1.RPSvsCaddy != 2 || f1.P99vsCaddy != 1 {
		t.Errorf("ficus-1 ratios = %+v", f1)
	}
	if f1.RPSvsHAProxy != 0 || f1.P99vsHAProxy != 0 {
		t.Errorf("haproxy did not run, yet ficus-1 has haproxy ratios %v, %v", f1.RPSvsHAProxy, f1.P99vsHAProxy)
	}

	var out bytes.Buffer
	printTable(&out, rows, []string{"haproxy not installed"})
	s := out.String()
	for _, want := range []string{
		"ficus-1 vs nginx: req/s 0.50, p99 2.00; vs caddy: req/s 2.00, p99 1.00\n",
		"skipped: haproxy not installed (deploy/install-deps.sh bench installs it)\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("table lacks %q:\n%s", want, s)
		}
	}
	if got := strings.Count(s, "–"); got != 2*len(rows) {
		t.Errorf("%d haproxy cells shown as –, want %d:\n%s", got, 2*len(rows), s)
	}
}

func TestFindBinaryMissing(t *testing.T) {
	_, err := findBinary("ficusbench-no-such-tool", filepath.Join(t.TempDir(), "nope"))
	if !errors.Is(err, errNotInstalled) || err.Error() != "ficusbench-no-such-tool not installed" {
		t.Fatalf("err = %v, want errNotInstalled", err)
	}
}

// The reference proxies' own checkers accept the configs (skipped where the
// tool is not installed).
func TestReferenceConfigsValid(t *testing.T) {
	dir := t.TempDir()
	t.Run("haproxy", func(t *testing.T) {
		bin, err := findBinary("haproxy", "/usr/sbin/haproxy")
		if err != nil {
			t.Skip(err)
		}
		path := filepath.Join(dir, "haproxy.cfg")
		if err := os.WriteFile(path, []byte(haproxyConfText(addr(18080), addr(18081))), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput(); err != nil || strings.Contains(string(out), "WARNING") {
			t.Fatalf("haproxy -c: %v\n%s", err, out)
		}
	})
	t.Run("caddy", func(t *testing.T) {
		bin, err := findBinary("caddy", "/usr/bin/caddy")
		if err != nil {
			t.Skip(err)
		}
		conf, err := caddyConf(dir, 18080, addr(18081))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "caddy.json")
		if err := os.WriteFile(path, conf, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "validate", "--config", path)
		cmd.Env = append(os.Environ(), caddyEnv(dir)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("caddy validate: %v\n%s", err, out)
		}
	})
}
